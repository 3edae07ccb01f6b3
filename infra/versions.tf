# Terraform for the AWS resources @durable/s3 and @durable/dynamo-lock need.
# See README.md for how to apply it and which options to pass to the packages.
terraform {
  required_version = ">= 1.5.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.0, < 7.0"
    }
  }
}

output "bucket" {
  description = "S3StorageManager / S3LockManager `bucket` option."
  value       = var.bucket_name
}

output "lock_table_name" {
  description = "DynamoLockingManager `tableName` option."
  value       = var.lock_table_name
}

output "policy_arns" {
  description = "Least-privilege policies to attach to your service's role."
  value = {
    s3_storage            = aws_iam_policy.durable_s3_storage.arn
    s3_lock               = aws_iam_policy.durable_s3_lock.arn
    dynamo_lock           = aws_iam_policy.durable_dynamo_lock.arn
    dynamo_lock_bootstrap = aws_iam_policy.durable_dynamo_lock_bootstrap.arn
  }
}

output "package_options" {
  description = "The options to pass to the packages, as JSON-ready values."
  value = {
    s3_storage  = { bucket = var.bucket_name, prefix = var.storage_prefix, region = var.region }
    s3_lock     = { bucket = var.bucket_name, prefix = var.lock_prefix, region = var.region }
    dynamo_lock = { tableName = var.lock_table_name, region = var.region }
  }
}

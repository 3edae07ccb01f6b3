# Least-privilege policies, one per package role. Attach them to the role of your service or
# Lambda function (aws_iam_role_policy_attachment), e.g.:
#   resource "aws_iam_role_policy_attachment" "state" {
#     role       = aws_iam_role.my_function.name
#     policy_arn = aws_iam_policy.durable_s3_storage.arn
#   }

locals {
  bucket_arn = "arn:aws:s3:::${var.bucket_name}"
  table_arn  = var.create_lock_table ? aws_dynamodb_table.locks[0].arn : "arn:aws:dynamodb:${var.region}:${data.aws_caller_identity.current.account_id}:table/${var.lock_table_name}"
  kms_statements = var.kms_key_arn == "" ? [] : [{
    Sid      = "UseTheBucketKey"
    Effect   = "Allow"
    Action   = ["kms:GenerateDataKey", "kms:Decrypt"]
    Resource = [var.kms_key_arn]
  }]
}

data "aws_caller_identity" "current" {}

# S3StorageManager: read, conditional write and delete of objects under storage_prefix, and
# listing that prefix. s3:ListBucket also makes a missing key answer 404 (read() -> undefined)
# instead of 403, which the package would rightly report as a BACKEND error.
resource "aws_iam_policy" "durable_s3_storage" {
  name        = "${var.name}-s3-storage"
  description = "@durable/s3 S3StorageManager on s3://${var.bucket_name}/${var.storage_prefix}"
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = concat([
      {
        Sid      = "Objects"
        Effect   = "Allow"
        Action   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
        Resource = ["${local.bucket_arn}/${var.storage_prefix}*"]
      },
      {
        Sid       = "ListThePrefix"
        Effect    = "Allow"
        Action    = ["s3:ListBucket"]
        Resource  = [local.bucket_arn]
        Condition = { StringLike = { "s3:prefix" = ["${var.storage_prefix}*"] } }
      },
    ], local.kms_statements)
  })
  tags = var.tags
}

# S3LockManager: read and conditionally write lease objects under lock_prefix. It never
# deletes them (the fencing counter lives in the object).
resource "aws_iam_policy" "durable_s3_lock" {
  name        = "${var.name}-s3-lock"
  description = "@durable/s3 S3LockManager on s3://${var.bucket_name}/${var.lock_prefix}"
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = concat([
      {
        Sid      = "LeaseObjects"
        Effect   = "Allow"
        Action   = ["s3:GetObject", "s3:PutObject"]
        Resource = ["${local.bucket_arn}/${var.lock_prefix}*"]
      },
      {
        Sid       = "NotFoundInsteadOfDenied"
        Effect    = "Allow"
        Action    = ["s3:ListBucket"]
        Resource  = [local.bucket_arn]
        Condition = { StringLike = { "s3:prefix" = ["${var.lock_prefix}*"] } }
      },
    ], local.kms_statements)
  })
  tags = var.tags
}

# DynamoLockingManager: conditional UpdateItem (acquire, extend, release) and GetItem
# (inspect) on the lock table only. No Scan, no DeleteItem, no table administration.
resource "aws_iam_policy" "durable_dynamo_lock" {
  name        = "${var.name}-dynamo-lock"
  description = "@durable/dynamo-lock DynamoLockingManager on table ${var.lock_table_name}"
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid      = "LockItems"
      Effect   = "Allow"
      Action   = ["dynamodb:UpdateItem", "dynamodb:GetItem"]
      Resource = [local.table_arn]
    }]
  })
  tags = var.tags
}

# Only for createLockTable() at first run (prefer creating the table with this Terraform).
resource "aws_iam_policy" "durable_dynamo_lock_bootstrap" {
  name        = "${var.name}-dynamo-lock-bootstrap"
  description = "createLockTable() from @durable/dynamo-lock for table ${var.lock_table_name}"
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid      = "CreateTheLockTable"
      Effect   = "Allow"
      Action   = ["dynamodb:CreateTable", "dynamodb:DescribeTable", "dynamodb:UpdateTimeToLive"]
      Resource = [local.table_arn]
    }]
  })
  tags = var.tags
}

variable "region" {
  description = "AWS region of the bucket and the lock table."
  type        = string
  default     = "us-east-1"
}

variable "name" {
  description = "Prefix of every resource name (policies, table)."
  type        = string
  default     = "durable"
}

variable "create_bucket" {
  description = "Create the S3 bucket for @durable/s3 (storage and, optionally, the S3-only lock)."
  type        = bool
  default     = true
}

variable "bucket_name" {
  description = "Name of the S3 bucket (globally unique)."
  type        = string
}

variable "storage_prefix" {
  description = "Key prefix S3StorageManager writes under (its `prefix` option); policies are scoped to it. Use \"\" for the whole bucket."
  type        = string
  default     = "durable/state/"
}

variable "lock_prefix" {
  description = "Key prefix S3LockManager writes lease objects under (its `prefix` option)."
  type        = string
  default     = "durable/locks/"
}

variable "kms_key_arn" {
  description = "KMS key for SSE-KMS. Empty: SSE-S3 (AES256), which also keeps ETags plain MD5s."
  type        = string
  default     = ""
}

variable "noncurrent_version_days" {
  description = "Days after which overwritten (noncurrent) object versions are deleted; 0 keeps them forever."
  type        = number
  default     = 30
}

variable "create_lock_table" {
  description = "Create the DynamoDB lock table for @durable/dynamo-lock."
  type        = bool
  default     = true
}

variable "lock_table_name" {
  description = "Name of the DynamoDB lock table (DynamoLockingManager's `tableName`)."
  type        = string
  default     = "durable-locks"
}

variable "point_in_time_recovery" {
  description = "Enable point-in-time recovery on the lock table (fencing counters survive a restore)."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags applied to every resource."
  type        = map(string)
  default     = {}
}

# The bucket of @durable/s3: versioned, encrypted, never public, objects owned by the bucket.
resource "aws_s3_bucket" "durable" {
  count  = var.create_bucket ? 1 : 0
  bucket = var.bucket_name
  tags   = var.tags
}

resource "aws_s3_bucket_ownership_controls" "durable" {
  count  = var.create_bucket ? 1 : 0
  bucket = aws_s3_bucket.durable[0].id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "durable" {
  count                   = var.create_bucket ? 1 : 0
  bucket                  = aws_s3_bucket.durable[0].id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

# Versioning keeps every overwritten snapshot recoverable; conditional writes (If-Match) still
# compare against the current version's ETag.
resource "aws_s3_bucket_versioning" "durable" {
  count  = var.create_bucket ? 1 : 0
  bucket = aws_s3_bucket.durable[0].id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "durable" {
  count  = var.create_bucket ? 1 : 0
  bucket = aws_s3_bucket.durable[0].id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = var.kms_key_arn == "" ? "AES256" : "aws:kms"
      kms_master_key_id = var.kms_key_arn == "" ? null : var.kms_key_arn
    }
    bucket_key_enabled = var.kms_key_arn != ""
  }
}

# Lease objects and snapshots are rewritten often: expire old versions so versioning does not
# grow the bill without bound.
resource "aws_s3_bucket_lifecycle_configuration" "durable" {
  count  = var.create_bucket && var.noncurrent_version_days > 0 ? 1 : 0
  bucket = aws_s3_bucket.durable[0].id
  rule {
    id     = "expire-noncurrent-versions"
    status = "Enabled"
    filter {}
    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_days
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }
  # Every acquire, extend and release of the S3-only lock rewrites a lease object: old lease
  # versions are worthless, so drop them after a day (where rules overlap, S3 applies the
  # shorter expiration).
  rule {
    id     = "expire-old-lease-versions"
    status = var.lock_prefix == "" ? "Disabled" : "Enabled"
    filter {
      prefix = var.lock_prefix
    }
    noncurrent_version_expiration {
      noncurrent_days = 1
    }
  }
  depends_on = [aws_s3_bucket_versioning.durable]
}

# Refuse plain-HTTP access.
resource "aws_s3_bucket_policy" "durable_tls_only" {
  count  = var.create_bucket ? 1 : 0
  bucket = aws_s3_bucket.durable[0].id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "DenyInsecureTransport"
      Effect    = "Deny"
      Principal = "*"
      Action    = "s3:*"
      Resource  = [aws_s3_bucket.durable[0].arn, "${aws_s3_bucket.durable[0].arn}/*"]
      Condition = { Bool = { "aws:SecureTransport" = "false" } }
    }]
  })
  depends_on = [aws_s3_bucket_public_access_block.durable]
}

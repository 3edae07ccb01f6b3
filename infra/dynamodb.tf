# The lock table of @durable/dynamo-lock: string hash key `id`, on-demand billing, TTL on
# `expireAt` (epoch seconds). The lock never relies on the TTL sweeper (it runs up to days
# late): expiry is part of every acquire's condition; TTL only cleans up old items.
resource "aws_dynamodb_table" "locks" {
  count        = var.create_lock_table ? 1 : 0
  name         = var.lock_table_name
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "id"

  attribute {
    name = "id"
    type = "S"
  }

  ttl {
    attribute_name = "expireAt"
    enabled        = true
  }

  point_in_time_recovery {
    enabled = var.point_in_time_recovery
  }

  server_side_encryption {
    enabled = true
  }

  tags = var.tags
}

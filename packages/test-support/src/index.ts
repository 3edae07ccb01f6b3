// The launchers of the real servers the tests and benches start themselves. Each one uses a
// server of your own instead when its environment variable is set (REDIS_URL, DATABASE_URL,
// DYNAMODB_ENDPOINT, S3_ENDPOINT with S3_BUCKET, MOTO_ENDPOINT, MONGODB_URI), and each
// `...OrSkip` helper registers a test named SKIPPED when its server cannot be had here.
export { findExecutable, freePort, startExternalServer, tcpOpen } from './external-server.js';
export type { ExternalServer, ExternalServerSpec } from './external-server.js';
export { startRedisServer } from './redis.js';
export type { RedisTestServer, StartRedisOptions } from './redis.js';
export {
  postgresAvailability,
  postgresOrSkip,
  startTestPostgres,
  uniqueSchema,
} from './postgres.js';
export type { StartPostgresOptions, TestPostgres } from './postgres.js';
export { DYNAMODB_TTL_API, makeDynamoClient, startDynamo } from './dynalite.js';
export type { DynamoTestEndpoint, StartDynamoOptions } from './dynalite.js';
export { S3_TEST_BUCKET, makeS3Client, startS3 } from './s3.js';
export type { S3TestEndpoint } from './s3.js';
export { motoAvailability, motoOrSkip, startMoto } from './moto.js';
export type { MotoTestServer, StartMotoOptions } from './moto.js';
export { mongoServerOrSkip, mongoTestServerAvailability, startMongoTestServer } from './mongo.js';
export type { MongoServerKind, MongoTestServer } from './mongo.js';

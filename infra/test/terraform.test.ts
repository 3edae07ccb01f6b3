// Offline checks of the Terraform in infra/. No terraform binary or AWS provider can be downloaded
// on these machines, so `terraform validate` and `plan` cannot run here. Instead every file is
// parsed by HashiCorp's own HCL parser (hcl2json: github.com/hashicorp/hcl compiled to WASM), and
// the checks below stand in for what validate would catch without a provider schema (syntax,
// undeclared variables, locals and resources, a counted resource referenced without an index)
// plus what validate never checks: the security settings the issue asks for, and that each IAM
// policy grants exactly the actions of the SDK commands its package sends, read from the
// package's source, so a new command without a policy change fails here.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { getReferencesInExpression, parse } from '@cdktf/hcl2json';
import type { DynamoLockOptions } from '@durable/dynamo-lock';
import type { S3LockOptions, S3StorageOptions } from '@durable/s3';

const INFRA = join(__dirname, '..');
const PACKAGES = join(INFRA, '..', 'packages');

type Block = Record<string, unknown>;
type Config = {
  variable?: Record<string, Block[]>;
  locals?: Block[];
  resource?: Record<string, Record<string, Block[]>>;
  data?: Record<string, Record<string, Block[]>>;
  output?: Record<string, Block[]>;
  provider?: Record<string, Block[]>;
  terraform?: Block[];
};

const files = readdirSync(INFRA)
  .filter((name) => name.endsWith('.tf'))
  .sort();
const parsed = new Map<string, Config>();

beforeAll(async () => {
  for (const file of files)
    parsed.set(file, (await parse(file, readFileSync(join(INFRA, file), 'utf8'))) as Config);
}, 60_000);

/** Every declaration of one kind across the files, by name. */
function declared<T>(pick: (config: Config) => Record<string, T> | undefined): Map<string, T> {
  const all = new Map<string, T>();
  for (const [file, config] of parsed) {
    for (const [name, value] of Object.entries(pick(config) ?? {})) {
      if (all.has(name)) throw new Error(`${name} is declared twice (again in ${file})`);
      all.set(name, value);
    }
  }
  return all;
}

const variables = () => declared((config) => config.variable);
const locals = () =>
  declared((config) => Object.assign({}, ...(config.locals ?? [])) as Record<string, unknown>);
const resources = () => declared((config) => flattenTyped(config.resource));
const dataSources = () => declared((config) => flattenTyped(config.data));

function flattenTyped(
  blocks: Record<string, Record<string, Block[]>> | undefined,
): Record<string, Block> {
  const flat: Record<string, Block> = {};
  for (const [type, byName] of Object.entries(blocks ?? {})) {
    for (const [name, [body]] of Object.entries(byName)) flat[`${type}.${name}`] = body!;
  }
  return flat;
}

function resource(address: string): Block {
  const body = resources().get(address);
  if (body === undefined) throw new Error(`no resource ${address}`);
  return body;
}

/** Every string in a parsed body with its path, e.g. ["rule", 0, "status"]. */
function* strings(
  value: unknown,
  path: Array<string | number> = [],
): Generator<[Array<string | number>, string]> {
  if (typeof value === 'string') yield [path, value];
  else if (Array.isArray(value))
    for (const [i, item] of value.entries()) yield* strings(item, [...path, i]);
  else if (value !== null && typeof value === 'object')
    for (const [key, item] of Object.entries(value)) yield* strings(item, [...path, key]);
}

/** The first block of a nested block list, e.g. versioning_configuration. */
function only(body: Block, name: string): Block {
  const blocks = body[name] as Block[] | undefined;
  expect(blocks).toHaveLength(1);
  return blocks![0]!;
}

describe('infra/*.tf', () => {
  test('every file parses with the HCL parser, and each kind of block has its own file', () => {
    expect(files).toEqual([
      'dynamodb.tf',
      'iam.tf',
      'outputs.tf',
      'providers.tf',
      's3.tf',
      'variables.tf',
      'versions.tf',
    ]);
    expect(Object.keys(parsed.get('variables.tf')!)).toEqual(['variable']);
    expect(Object.keys(parsed.get('outputs.tf')!)).toEqual(['output']);
  });

  test('every reference names a declared variable, local, resource or data source, and counted resources are indexed', async () => {
    const vars = variables();
    const localNames = locals();
    const res = resources();
    const data = dataSources();
    const problems: string[] = [];
    let checked = 0;
    for (const [file, config] of parsed) {
      for (const [path, text] of strings(config)) {
        if (!text.includes('${')) continue;
        // Type constraints ("${string}", "${map(string)}") are not expressions.
        if (path[0] === 'variable' && path[path.length - 1] === 'type') continue;
        for (const { value } of await getReferencesInExpression(file, text)) {
          checked++;
          const parts = value.split('.');
          const where = `${file} ${path.join('.')}: ${value}`;
          if (parts[0] === 'var') {
            if (!vars.has(parts[1]!)) problems.push(`${where}: no such variable`);
          } else if (parts[0] === 'local') {
            if (!localNames.has(parts[1]!)) problems.push(`${where}: no such local`);
          } else if (parts[0] === 'data') {
            if (!data.has(`${parts[1]}.${parts[2]}`))
              problems.push(`${where}: no such data source`);
          } else if (parts[0]!.startsWith('aws_')) {
            const body = res.get(`${parts[0]}.${parts[1]}`);
            if (body === undefined) problems.push(`${where}: no such resource`);
            // A counted resource is a list: its attributes need an index, except in depends_on.
            else if (
              'count' in body &&
              path.at(-2) !== 'depends_on' &&
              !/^\d+$/.test(parts[2] ?? '')
            ) {
              problems.push(`${where}: ${parts[0]}.${parts[1]} has a count, so it needs an index`);
            }
          } else if (!['count', 'each', 'path', 'terraform', 'self'].includes(parts[0]!)) {
            problems.push(`${where}: unknown reference`);
          }
        }
      }
    }
    expect(problems).toEqual([]);
    expect(checked).toBeGreaterThan(40);
  });

  test('every variable has a description, and terraform.tfvars.example sets only declared variables', () => {
    const vars = variables();
    for (const [name, [body]] of vars)
      expect({ name, description: typeof body!.description }).toEqual({
        name,
        description: 'string',
      });
    const example = readFileSync(join(INFRA, 'terraform.tfvars.example'), 'utf8');
    const set = [...example.matchAll(/^([a-z_]+)\s*=/gm)].map((match) => match[1]!);
    expect(set.length).toBeGreaterThan(3);
    for (const name of set)
      expect({ name, declared: vars.has(name) }).toEqual({ name, declared: true });
    // The variables without a default are the ones a user must set.
    const required = [...vars].filter(([, [body]]) => !('default' in body!)).map(([name]) => name);
    for (const name of required)
      expect({ name, inExample: set.includes(name) }).toEqual({ name, inExample: true });
  });

  test('the AWS provider is pinned to a major range and Terraform to a minimum version', () => {
    const [terraform] = parsed.get('versions.tf')!.terraform!;
    expect(terraform!.required_version).toMatch(/^>= 1\.\d+/);
    const [providers] = terraform!.required_providers as Array<{
      aws: { source: string; version: string };
    }>;
    const aws = providers!.aws;
    expect(aws.source).toBe('hashicorp/aws');
    expect(aws.version).toMatch(/< \d+\.0/);
  });
});

describe('the S3 bucket (s3.tf)', () => {
  test('is versioned, encrypted, never public, owned by the bucket owner and TLS-only', () => {
    expect(
      only(resource('aws_s3_bucket_versioning.durable'), 'versioning_configuration').status,
    ).toBe('Enabled');

    const encryption = only(
      only(resource('aws_s3_bucket_server_side_encryption_configuration.durable'), 'rule'),
      'apply_server_side_encryption_by_default',
    );
    expect(encryption.sse_algorithm).toMatch(/"AES256"/);
    expect(encryption.sse_algorithm).toMatch(/"aws:kms"/);

    const publicAccess = resource('aws_s3_bucket_public_access_block.durable');
    for (const setting of [
      'block_public_acls',
      'block_public_policy',
      'ignore_public_acls',
      'restrict_public_buckets',
    ]) {
      expect({ setting, value: publicAccess[setting] }).toEqual({ setting, value: true });
    }
    expect(
      only(resource('aws_s3_bucket_ownership_controls.durable'), 'rule').object_ownership,
    ).toBe('BucketOwnerEnforced');

    const tls = String(resource('aws_s3_bucket_policy.durable_tls_only').policy);
    expect(tls).toMatch(/Effect\s*=\s*"Deny"/);
    expect(tls).toMatch(/"aws:SecureTransport"\s*=\s*"false"/);
    // Both the bucket and its objects.
    expect(tls).toMatch(
      /aws_s3_bucket\.durable\[0\]\.arn,\s*"\$\{aws_s3_bucket\.durable\[0\]\.arn\}\/\*"/,
    );
  });

  test('every bucket setting applies to the bucket that is created, and only when it is', () => {
    const bucketResources = [...resources()].filter(([address]) =>
      address.startsWith('aws_s3_bucket'),
    );
    expect(bucketResources.length).toBeGreaterThanOrEqual(6);
    for (const [address, body] of bucketResources) {
      expect({ address, count: body.count }).toEqual({
        address,
        count: expect.stringContaining('var.create_bucket'),
      });
      if (address !== 'aws_s3_bucket.durable')
        expect({ address, bucket: body.bucket }).toEqual({
          address,
          bucket: '${aws_s3_bucket.durable[0].id}',
        });
    }
  });
});

describe('the DynamoDB lock table (dynamodb.tf)', () => {
  test('has the shape DynamoLockingManager uses: string hash key id, TTL on expireAt, on-demand billing', () => {
    const table = resource('aws_dynamodb_table.locks');
    expect(table.billing_mode).toBe('PAY_PER_REQUEST');
    expect(table.hash_key).toBe('id');
    expect(table.range_key).toBeUndefined();
    expect(table.attribute).toEqual([{ name: 'id', type: 'S' }]);
    expect(table.ttl).toEqual([{ attribute_name: 'expireAt', enabled: true }]);
    expect(table.server_side_encryption).toEqual([{ enabled: true }]);
  });

  test('matches the table createLockTable() makes for tests and first runs', () => {
    const source = readFileSync(join(PACKAGES, 'dynamo-lock', 'src', 'lock-table.ts'), 'utf8');
    expect(source).toMatch(/AttributeName: 'id', KeyType: 'HASH'/);
    expect(source).toMatch(/AttributeName: 'id', AttributeType: 'S'/);
    expect(source).toMatch(/BillingMode: 'PAY_PER_REQUEST'/);
    expect(source).toMatch(/AttributeName: 'expireAt'/);
  });
});

// The IAM action each SDK command needs (docs.aws.amazon.com/service-authorization). HeadObject is
// authorised as GetObject, ListObjectsV2 as ListBucket.
const ACTION_OF_COMMAND: Record<string, string> = {
  GetObjectCommand: 's3:GetObject',
  HeadObjectCommand: 's3:GetObject',
  PutObjectCommand: 's3:PutObject',
  DeleteObjectCommand: 's3:DeleteObject',
  ListObjectsV2Command: 's3:ListBucket',
  GetItemCommand: 'dynamodb:GetItem',
  PutItemCommand: 'dynamodb:PutItem',
  UpdateItemCommand: 'dynamodb:UpdateItem',
  DeleteItemCommand: 'dynamodb:DeleteItem',
  CreateTableCommand: 'dynamodb:CreateTable',
  DescribeTableCommand: 'dynamodb:DescribeTable',
  UpdateTimeToLiveCommand: 'dynamodb:UpdateTimeToLive',
};

/** The IAM actions a source file's SDK calls need; a command missing from the table fails the test. */
function actionsUsedBy(...sourceFiles: string[]): string[] {
  const actions = new Set<string>();
  for (const file of sourceFiles) {
    const source = readFileSync(join(PACKAGES, file), 'utf8');
    const commands = [...source.matchAll(/new (\w+Command)\(/g)].map((match) => match[1]!);
    expect({ file, sendsCommands: commands.length > 0 }).toEqual({ file, sendsCommands: true });
    for (const command of commands) {
      const action = ACTION_OF_COMMAND[command];
      if (action === undefined)
        throw new Error(
          `${file} sends ${command}: add its IAM action to ACTION_OF_COMMAND and to the policy in iam.tf`,
        );
      actions.add(action);
    }
  }
  return [...actions].sort();
}

/** The statements of an aws_iam_policy's jsonencode({...}) document, as Effect, actions and resources. */
function statements(
  address: string,
): Array<{ effect: string; actions: string[]; resources: string }> {
  const policy = String(resource(address).policy);
  const found = [
    ...policy.matchAll(
      /Effect\s*=\s*"(\w+)"\s*Action\s*=\s*\[([^\]]*)\]\s*Resource\s*=\s*(\[[^\]]*\]|"[^"]*")/g,
    ),
  ].map((match) => ({
    effect: match[1]!,
    actions: [...match[2]!.matchAll(/"([^"]+)"/g)].map((action) => action[1]!),
    resources: match[3]!,
  }));
  // Every Effect must have been read as part of a statement.
  expect(found.length).toBe([...policy.matchAll(/Effect\s*=/g)].length);
  return found;
}

describe('the IAM policies (iam.tf)', () => {
  const policies: Array<{ address: string; sources: string[]; extra: string[]; why?: string }> = [
    { address: 'aws_iam_policy.durable_s3_storage', sources: ['s3/src/s3-storage.ts'], extra: [] },
    {
      address: 'aws_iam_policy.durable_s3_lock',
      sources: ['s3/src/s3-lock.ts'],
      extra: ['s3:ListBucket'],
      why: 'without ListBucket, a GetObject of a lease object that does not exist yet answers 403 instead of 404',
    },
    {
      address: 'aws_iam_policy.durable_dynamo_lock',
      sources: ['dynamo-lock/src/dynamo-lock.ts'],
      extra: [],
    },
    {
      address: 'aws_iam_policy.durable_dynamo_lock_bootstrap',
      sources: ['dynamo-lock/src/lock-table.ts'],
      extra: [],
    },
  ];

  test('there is one policy per package role, and no other', () => {
    const declaredPolicies = [...resources().keys()]
      .filter((address) => address.startsWith('aws_iam_policy.'))
      .sort();
    expect(declaredPolicies).toEqual(policies.map((policy) => policy.address).sort());
  });

  test.each(policies)(
    '$address grants exactly the actions its package sends',
    ({ address, sources, extra }) => {
      const granted = statements(address);
      expect(granted.every((statement) => statement.effect === 'Allow')).toBe(true);
      const actions = [...new Set(granted.flatMap((statement) => statement.actions))].sort();
      expect(actions).toEqual([...new Set([...actionsUsedBy(...sources), ...extra])].sort());
    },
  );

  test.each(policies)('$address has no wildcard action or resource', ({ address }) => {
    for (const statement of statements(address)) {
      for (const action of statement.actions) expect(action).not.toMatch(/\*/);
      expect(statement.resources).not.toMatch(/"\*"/);
      expect(statement.resources).not.toMatch(/:::\*|table\/\*/);
    }
  });

  test('object actions are limited to the package prefix, and listing to that prefix', () => {
    const storage = statements('aws_iam_policy.durable_s3_storage');
    expect(
      storage.find((statement) => statement.actions.includes('s3:PutObject'))!.resources,
    ).toContain('${var.storage_prefix}*');
    const lock = statements('aws_iam_policy.durable_s3_lock');
    expect(
      lock.find((statement) => statement.actions.includes('s3:PutObject'))!.resources,
    ).toContain('${var.lock_prefix}*');
    for (const address of ['aws_iam_policy.durable_s3_storage', 'aws_iam_policy.durable_s3_lock']) {
      expect(String(resource(address).policy)).toMatch(
        /StringLike = \{ "s3:prefix" = \["\$\{var\.(storage|lock)_prefix\}\*"\] \}/,
      );
    }
  });

  test('the optional KMS statement grants only what SSE-KMS reads and writes need, on the given key', () => {
    const kms = String(locals().get('kms_statements'));
    expect(kms).toMatch(/Action\s*=\s*\["kms:GenerateDataKey", "kms:Decrypt"\]/);
    expect(kms).toMatch(/Resource\s*=\s*\[var\.kms_key_arn\]/);
    expect(kms).toMatch(/var\.kms_key_arn == "" \? \[\]/);
  });
});

describe('outputs.tf', () => {
  // Typed lists: if a package renames an option, this file stops compiling.
  const optionNames: Record<
    string,
    Array<keyof S3StorageOptions | keyof S3LockOptions | keyof DynamoLockOptions>
  > = {
    s3_storage: ['bucket', 'prefix', 'region'] satisfies Array<keyof S3StorageOptions>,
    s3_lock: ['bucket', 'prefix', 'region'] satisfies Array<keyof S3LockOptions>,
    dynamo_lock: ['region', 'tableName'] satisfies Array<keyof DynamoLockOptions>,
  };

  test('package_options names real options of each package, and a package accepts them', async () => {
    const [output] = parsed.get('outputs.tf')!.output!.package_options!;
    const value = output!.value as Record<string, Record<string, string>>;
    expect(Object.keys(value).sort()).toEqual(Object.keys(optionNames).sort());
    for (const [name, options] of Object.entries(value))
      expect(Object.keys(options).sort()).toEqual([...optionNames[name]!].sort());

    // The values a user of terraform.tfvars.example would get, passed to the constructors.
    const example = {
      region: 'eu-west-1',
      bucket_name: 'my-company-durable-state',
      storage_prefix: 'orders-service/state/',
      lock_prefix: 'orders-service/locks/',
      lock_table_name: 'orders-service-locks',
    };
    const resolve = (options: Record<string, string>) =>
      Object.fromEntries(
        Object.entries(options).map(([key, text]) => [
          key,
          text.replace(
            /^\$\{var\.(\w+)\}$/,
            (_, name: string) => example[name as keyof typeof example],
          ),
        ]),
      );
    const { S3StorageManager, S3LockManager } = await import('@durable/s3');
    const { DynamoLockingManager } = await import('@durable/dynamo-lock');
    const credentials = { accessKeyId: 'x', secretAccessKey: 'y' };
    expect(
      () =>
        new S3StorageManager({
          ...(resolve(value.s3_storage!) as unknown as S3StorageOptions),
          credentials,
        }),
    ).not.toThrow();
    expect(
      () =>
        new S3LockManager({
          ...(resolve(value.s3_lock!) as unknown as S3LockOptions),
          credentials,
        }),
    ).not.toThrow();
    expect(
      () =>
        new DynamoLockingManager({
          ...(resolve(value.dynamo_lock!) as unknown as DynamoLockOptions),
          credentials,
        }),
    ).not.toThrow();
  });

  test('policy_arns lists every policy', () => {
    const [output] = parsed.get('outputs.tf')!.output!.policy_arns!;
    const listed = Object.values(output!.value as Record<string, string>)
      .map((text) => text.replace(/^\$\{(.*)\.arn\}$/, '$1'))
      .sort();
    expect(listed).toEqual(
      [...resources().keys()].filter((address) => address.startsWith('aws_iam_policy.')).sort(),
    );
  });
});

describe('infra/README.md', () => {
  test('has a section for each resource file, and says how to apply', () => {
    const readme = readFileSync(join(INFRA, 'README.md'), 'utf8');
    for (const file of ['s3.tf', 'dynamodb.tf', 'iam.tf'])
      expect(readme).toMatch(new RegExp(`^## \`${file.replace('.', '\\.')}\``, 'm'));
    expect(readme).toMatch(/terraform apply/);
    expect(readme).toMatch(/terraform init/);
  });
});

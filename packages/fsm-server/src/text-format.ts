import protobuf from 'protobufjs';
import { invalidRequest } from './errors.js';

// The protobuf text format (what Go's `proto.MarshalTextString` and `prototext` write), for the
// subset the Go sm-server's clients put in SQS bodies: messages (`{ }` or `< >`, with or without
// a colon before them), strings (quoted with " or ', C escapes, adjacent literals joined),
// integers, booleans, enum names or numbers, repeated fields (repeated or as `[a, b]`), `#`
// comments, `,` or `;` between fields. Field names are checked against the message type: an
// unknown name, a wrong kind of value or a malformed text is an error naming the line and column.
// No library on npm parses it (protobufjs reads .proto files and JSON, not the text format).

/** A parsed text-format message: field name to value (nested messages are objects). */
export type TextMessage = { [field: string]: TextValue };
/** A value of a parsed text-format field. */
export type TextValue = string | number | boolean | TextMessage | TextValue[];

interface Token {
  kind: 'ident' | 'string' | 'number' | 'punct';
  text: string;
  line: number;
  column: number;
}

const MAX_TEXT = 256 * 1024;
const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });
const MAX_DEPTH = 32;

function tokenize(text: string, fail: (line: number, column: number, problem: string) => never) {
  const tokens: Token[] = [];
  let i = 0;
  let line = 1;
  let lineStart = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (c === '\n') {
      line++;
      i++;
      lineStart = i;
      continue;
    }
    if (c === ' ' || c === '\t' || c === '\r' || c === '\f' || c === '\v') {
      i++;
      continue;
    }
    if (c === '#') {
      while (i < text.length && text[i] !== '\n') i++;
      continue;
    }
    const column = i - lineStart + 1;
    if (/[A-Za-z_]/.test(c)) {
      const match = /^[A-Za-z_][A-Za-z0-9_]*/.exec(text.slice(i))!;
      tokens.push({ kind: 'ident', text: match[0], line, column });
      i += match[0].length;
      continue;
    }
    if (/[0-9+\-.]/.test(c)) {
      const match = /^[+-]?(0[xX][0-9a-fA-F]+|[0-9]*\.?[0-9]+([eE][+-]?[0-9]+)?[fF]?)/.exec(
        text.slice(i),
      );
      if (match === null || match[0] === '' || match[0] === '+' || match[0] === '-')
        fail(line, column, `unexpected ${JSON.stringify(c)}`);
      tokens.push({ kind: 'number', text: match[0], line, column });
      i += match[0].length;
      continue;
    }
    if (c === '"' || c === "'") {
      // The bytes of the string: a literal character as its UTF-8, an octal or \x escape as one
      // byte (Go writes non-ASCII bytes so), decoded as UTF-8 at the end.
      const bytes: number[] = [];
      const utf8 = (text: string): void => {
        for (const byte of encoder.encode(text)) bytes.push(byte);
      };
      i++;
      for (;;) {
        if (i >= text.length || text[i] === '\n') fail(line, column, 'unterminated string');
        const d = text[i]!;
        if (d === c) {
          i++;
          break;
        }
        if (d !== '\\') {
          const point = text.codePointAt(i)!;
          const ch = String.fromCodePoint(point);
          utf8(ch);
          i += ch.length;
          continue;
        }
        const e = text[i + 1];
        i += 2;
        const simple: Record<string, string> = {
          n: '\n',
          t: '\t',
          r: '\r',
          a: '\x07',
          b: '\b',
          f: '\f',
          v: '\v',
          '\\': '\\',
          "'": "'",
          '"': '"',
          '?': '?',
        };
        if (e !== undefined && e in simple) {
          utf8(simple[e]!);
        } else if (e !== undefined && /[0-7]/.test(e)) {
          const octal = /^[0-7]{1,3}/.exec(text.slice(i - 1))![0];
          bytes.push(parseInt(octal, 8) & 0xff);
          i += octal.length - 1;
        } else if (e === 'x') {
          const hex = /^[0-9a-fA-F]{1,2}/.exec(text.slice(i));
          if (hex === null) fail(line, column, 'bad \\x escape in a string');
          bytes.push(parseInt(hex[0], 16));
          i += hex[0].length;
        } else if (e === 'u' || e === 'U') {
          const size = e === 'u' ? 4 : 8;
          const hex = new RegExp(`^[0-9a-fA-F]{${size}}`).exec(text.slice(i));
          if (hex === null) fail(line, column, `bad \\${e} escape in a string`);
          const point = parseInt(hex[0], 16);
          if (point > 0x10ffff) fail(line, column, `bad \\${e} escape in a string`);
          utf8(String.fromCodePoint(point));
          i += size;
        } else {
          fail(line, column, `bad escape \\${String(e)} in a string`);
        }
      }
      let decoded: string;
      try {
        decoded = decoder.decode(Uint8Array.from(bytes));
      } catch {
        return fail(line, column, 'a string is not valid UTF-8');
      }
      tokens.push({ kind: 'string', text: decoded, line, column });
      continue;
    }
    if ('{}<>:[],;'.includes(c)) {
      tokens.push({ kind: 'punct', text: c, line, column });
      i++;
      continue;
    }
    fail(line, column, `unexpected ${JSON.stringify(c)}`);
  }
  return tokens;
}

const INTEGER_TYPES = new Set([
  'int32',
  'int64',
  'uint32',
  'uint64',
  'sint32',
  'sint64',
  'fixed32',
  'fixed64',
  'sfixed32',
  'sfixed64',
]);

/**
 * Parses `text` (the protobuf text format) as a message of `type`. Throws an `INVALID_REQUEST`
 * `DurableError` for the field `field`, whose message says where and what is wrong.
 */
export function parseTextFormat(text: string, type: protobuf.Type, field: string): TextMessage {
  const fail: (line: number, column: number, problem: string) => never = (
    line,
    column,
    problem,
  ) => {
    throw invalidRequest(
      field,
      `is not a valid text-format ${type.name}: line ${line}, column ${column}: ${problem}`,
    );
  };
  if (text.length > MAX_TEXT) fail(1, 1, `longer than ${MAX_TEXT} characters`);
  const tokens = tokenize(text, fail);
  let at = 0;
  const end = (): Token => {
    const last = tokens[tokens.length - 1];
    return { kind: 'punct', text: 'the end', line: last?.line ?? 1, column: last?.column ?? 1 };
  };
  const peek = (): Token | undefined => tokens[at];
  const next = (): Token => tokens[at++] ?? end();
  const describe = (token: Token): string =>
    token.text === 'the end' ? 'the end' : JSON.stringify(token.text);

  const scalar = (fieldType: protobuf.Field): TextValue => {
    const token = next();
    const resolved = fieldType.resolvedType;
    if (resolved instanceof protobuf.Enum) {
      if (token.kind === 'ident' && token.text in resolved.values) return token.text;
      if (token.kind === 'number' && /^-?\d+$/.test(token.text)) {
        const name = resolved.valuesById[Number(token.text)];
        if (name !== undefined) return name;
      }
      return fail(
        token.line,
        token.column,
        `${describe(token)} is not a value of ${resolved.name} (${Object.keys(resolved.values).join(', ')})`,
      );
    }
    if (fieldType.type === 'string' || fieldType.type === 'bytes') {
      if (token.kind !== 'string')
        fail(
          token.line,
          token.column,
          `${fieldType.name} needs a quoted string, found ${describe(token)}`,
        );
      let value = token.text;
      while (peek()?.kind === 'string') value += next().text;
      return value;
    }
    if (fieldType.type === 'bool') {
      if (token.kind === 'ident' && (token.text === 'true' || token.text === 't')) return true;
      if (token.kind === 'ident' && (token.text === 'false' || token.text === 'f')) return false;
      if (token.kind === 'number' && (token.text === '1' || token.text === '0'))
        return token.text === '1';
      return fail(token.line, token.column, `${fieldType.name} needs true or false`);
    }
    if (INTEGER_TYPES.has(fieldType.type)) {
      if (token.kind !== 'number' || !/^[+-]?(\d+|0[xX][0-9a-fA-F]+)$/.test(token.text))
        fail(
          token.line,
          token.column,
          `${fieldType.name} needs an integer, found ${describe(token)}`,
        );
      const value = Number(token.text);
      if (!Number.isSafeInteger(value))
        fail(token.line, token.column, `${fieldType.name} is out of range`);
      if (
        fieldType.type.startsWith('u') ||
        fieldType.type === 'fixed32' ||
        fieldType.type === 'fixed64'
      )
        if (value < 0) fail(token.line, token.column, `${fieldType.name} cannot be negative`);
      if (/32$/.test(fieldType.type) && Math.abs(value) > 0xffffffff)
        fail(token.line, token.column, `${fieldType.name} is out of range`);
      return value;
    }
    if (fieldType.type === 'double' || fieldType.type === 'float') {
      if (token.kind === 'number') return Number(token.text.replace(/[fF]$/, ''));
      if (token.kind === 'ident' && /^(inf|infinity|nan)$/i.test(token.text))
        return /^nan$/i.test(token.text) ? NaN : Infinity;
      return fail(token.line, token.column, `${fieldType.name} needs a number`);
    }
    return fail(token.line, token.column, `${fieldType.name} has an unsupported type`);
  };

  const message = (messageType: protobuf.Type, close: string | undefined, depth: number) => {
    if (depth > MAX_DEPTH) {
      const token = peek() ?? end();
      fail(token.line, token.column, `nested deeper than ${MAX_DEPTH}`);
    }
    const result: TextMessage = {};
    for (;;) {
      const token = peek();
      if (token === undefined) {
        if (close !== undefined)
          fail(end().line, end().column, `expected "${close}", found the end`);
        return result;
      }
      if (close !== undefined && token.kind === 'punct' && token.text === close) {
        at++;
        return result;
      }
      const name = next();
      if (name.kind !== 'ident')
        fail(name.line, name.column, `expected a field name, found ${describe(name)}`);
      const fieldType = messageType.fields[name.text];
      if (fieldType === undefined)
        fail(
          name.line,
          name.column,
          `${messageType.name} has no field ${JSON.stringify(name.text)} (it has ${Object.keys(messageType.fields).join(', ')})`,
        );
      fieldType.resolve();
      const isMessage = fieldType.resolvedType instanceof protobuf.Type;
      const colon = peek();
      if (colon?.kind === 'punct' && colon.text === ':') at++;
      else if (!isMessage)
        fail(
          colon?.line ?? name.line,
          colon?.column ?? name.column,
          `expected ":" after ${name.text}`,
        );
      const one = (): TextValue => {
        if (!isMessage) return scalar(fieldType);
        const open = next();
        if (open.kind !== 'punct' || (open.text !== '{' && open.text !== '<'))
          fail(
            open.line,
            open.column,
            `expected "{" or "<" to open ${name.text}, found ${describe(open)}`,
          );
        return message(
          fieldType.resolvedType as protobuf.Type,
          open.text === '{' ? '}' : '>',
          depth + 1,
        );
      };
      const values: TextValue[] = [];
      const list = peek();
      if (list?.kind === 'punct' && list.text === '[') {
        if (!fieldType.repeated) fail(list.line, list.column, `${name.text} is not repeated`);
        at++;
        if (!(peek()?.kind === 'punct' && peek()?.text === ']')) {
          for (;;) {
            values.push(one());
            const sep = next();
            if (sep.kind === 'punct' && sep.text === ']') break;
            if (!(sep.kind === 'punct' && sep.text === ','))
              fail(sep.line, sep.column, `expected "," or "]", found ${describe(sep)}`);
          }
        } else {
          at++;
        }
      } else {
        values.push(one());
      }
      if (fieldType.repeated) {
        const previous = result[name.text];
        result[name.text] = [...(Array.isArray(previous) ? previous : []), ...values];
      } else {
        if (name.text in result) fail(name.line, name.column, `${name.text} is given twice`);
        result[name.text] = values[0]!;
      }
      const sep = peek();
      if (sep?.kind === 'punct' && (sep.text === ',' || sep.text === ';')) at++;
    }
  };
  const parsed = message(type, undefined, 0);
  if (at < tokens.length) {
    const token = tokens[at]!;
    fail(token.line, token.column, `unexpected ${describe(token)}`);
  }
  return parsed;
}

// The types of an SQS body: the sm-server's EventRequest (`dest` as in its v1 and v2, or `id` and
// `config` as in its v1beta) or, as its first clients sent, a bare Event.
const SQS_BODY_PROTO = `syntax = "proto3";
package fsmserver.text;
import "google/protobuf/timestamp.proto";
message Transition { string from = 1; string to = 2; string event = 3; }
message Event {
  string event_id = 1;
  google.protobuf.Timestamp timestamp = 2;
  Transition transition = 3;
  string originator = 4;
  string details = 5;
}
message EventRequest { Event event = 1; string dest = 2; string config = 3; string id = 4; }
`;

let sqsTypes: { request: protobuf.Type; event: protobuf.Type } | undefined;

function sqsBodyTypes(): { request: protobuf.Type; event: protobuf.Type } {
  if (sqsTypes === undefined) {
    const root = new protobuf.Root();
    root.loadSync('google/protobuf/timestamp.proto');
    protobuf.parse(SQS_BODY_PROTO, root, { keepCase: true });
    root.resolveAll();
    sqsTypes = {
      request: root.lookupType('fsmserver.text.EventRequest'),
      event: root.lookupType('fsmserver.text.Event'),
    };
  }
  return sqsTypes;
}

/** An event read from a text-format SQS body; absent fields are `undefined`. */
export interface TextEvent {
  /** The machine id (`dest`, or `id` in the sm-server's v1beta). */
  dest?: string;
  event?: string;
  eventId?: string;
  timestamp?: { seconds: number; nanos: number };
  originator?: string;
  details?: string;
}

const str = (value: TextValue | undefined): string | undefined =>
  typeof value === 'string' && value !== '' ? value : undefined;

/**
 * Reads an SQS body in the protobuf text format: an `EventRequest` (`event { ... } dest: "..."`,
 * what the Go sm-server's clients send) or a bare `Event` (its first clients, with the machine id
 * in the `DestinationId` attribute). Throws an `INVALID_REQUEST` error (field `body`) for a text
 * that is neither.
 */
export function parseEventText(body: string): TextEvent {
  const types = sqsBodyTypes();
  let request: TextMessage;
  let event: TextMessage;
  try {
    request = parseTextFormat(body, types.request, 'body');
    event = (request['event'] as TextMessage | undefined) ?? {};
  } catch (requestError) {
    try {
      event = parseTextFormat(body, types.event, 'body');
      request = {};
    } catch {
      throw requestError;
    }
  }
  const timestamp = event['timestamp'] as TextMessage | undefined;
  const transition = event['transition'] as TextMessage | undefined;
  const result: TextEvent = {};
  const dest = str(request['dest']) ?? str(request['id']);
  if (dest !== undefined) result.dest = dest;
  const name = str(transition?.['event']);
  if (name !== undefined) result.event = name;
  const eventId = str(event['event_id']);
  if (eventId !== undefined) result.eventId = eventId;
  if (timestamp !== undefined)
    result.timestamp = {
      seconds: (timestamp['seconds'] as number | undefined) ?? 0,
      nanos: (timestamp['nanos'] as number | undefined) ?? 0,
    };
  const originator = str(event['originator']);
  if (originator !== undefined) result.originator = originator;
  const details = str(event['details']);
  if (details !== undefined) result.details = details;
  return result;
}

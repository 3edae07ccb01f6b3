import { ErrorCode, isDurableError } from '@durable/core';
import { FsmErrorCode } from './errors.js';

/** An HTTP error answer: status and body `{ code, message, field? }`. */
export interface HttpErrorReply {
  status: number;
  body: { code: string; message: string; field?: string };
}

interface FastifyLikeError {
  code?: string;
  statusCode?: number;
  message?: string;
  validation?: Array<{
    instancePath?: string;
    keyword?: string;
    params?: Record<string, unknown>;
    message?: string;
  }>;
  validationContext?: string;
}

/** Turns an AJV instance path (`/transitions/0/from`) into the field name users read (`transitions[0].from`). */
export function fieldName(path: string, missing?: unknown): string {
  const parts = path.split('/').filter((part) => part !== '');
  if (typeof missing === 'string') parts.push(missing);
  return (
    parts.reduce(
      (name, part) =>
        /^\d+$/.test(part) ? `${name}[${part}]` : name === '' ? part : `${name}.${part}`,
      '',
    ) || 'body'
  );
}

/** Maps any failure to its HTTP status and error body; never leaks a stack. */
export function httpError(error: unknown): HttpErrorReply {
  const e = error as FastifyLikeError;
  if (Array.isArray(e?.validation) && e.validation.length > 0) {
    const first = e.validation[0]!;
    const field = fieldName(first.instancePath ?? '', first.params?.['missingProperty']);
    const problem = first.keyword === 'required' ? 'is required' : (first.message ?? 'is invalid');
    return {
      status: 400,
      body: {
        code: FsmErrorCode.INVALID_REQUEST,
        field,
        message: `fsm-server: ${field} ${problem}`,
      },
    };
  }
  if (isDurableError(error)) {
    const field = typeof error.details?.['field'] === 'string' ? error.details['field'] : undefined;
    const body = {
      code: error.code,
      message: error.message,
      ...(field === undefined ? {} : { field }),
    };
    switch (error.code) {
      case FsmErrorCode.INVALID_REQUEST:
      case ErrorCode.INVALID_KEY:
      case ErrorCode.INVALID_EVENT:
        return { status: 400, body };
      case ErrorCode.NOT_FOUND:
        return { status: 404, body };
      case FsmErrorCode.EVENT_NOT_ALLOWED:
        return { status: 409, body };
      case ErrorCode.CONFLICT:
        return { status: error.retryable ? 503 : 409, body };
      default:
        return { status: error.retryable ? 503 : 500, body };
    }
  }
  const status =
    typeof e?.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500
      ? e.statusCode
      : 500;
  if (status === 413) {
    return {
      status,
      body: {
        code: FsmErrorCode.INVALID_REQUEST,
        field: 'body',
        message: `fsm-server: the body is larger than the server's limit (${
          e.message ?? ''
        }); send a smaller one`,
      },
    };
  }
  if (status < 500) {
    return {
      status,
      body: {
        code: FsmErrorCode.INVALID_REQUEST,
        field: 'body',
        message: `fsm-server: ${e?.message ?? 'bad request'}`,
      },
    };
  }
  return {
    status,
    body: { code: 'INTERNAL', message: 'fsm-server: internal error (see the server log)' },
  };
}

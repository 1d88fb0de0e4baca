/**
 * How an orchestrator answer or a transport failure becomes a coded error. Conflicts keep the
 * orchestrator's code (UNIQUE_VIOLATION, FOREIGN_KEY_VIOLATION) so each service decides what they
 * mean for its own callers; everything that says "try again later" becomes a 503.
 */
import { ERROR_CODES, isErrorCode, RideShareError, TimeoutError, UnavailableError } from '../../shared/errors.ts';

interface OrchestratorErrorBody {
  error?: unknown;
  code?: unknown;
}

function describe(body: unknown): { message: string; code: string | undefined } {
  if (body === null || typeof body !== 'object') return { message: 'no error message', code: undefined };
  const { error, code } = body as OrchestratorErrorBody;
  return {
    message: typeof error === 'string' ? error : 'no error message',
    code: typeof code === 'string' ? code : undefined,
  };
}

/**
 * `credentials`: whose the call carried. A refusal of the service's own token is the service's
 * misconfiguration (its callers can only wait); a refusal of its caller's token is the caller's
 * answer, passed on as it is.
 */
export function errorFromAnswer(status: number, body: unknown, credentials: 'service' | 'caller' = 'service'): RideShareError {
  const { message, code } = describe(body);
  if (credentials === 'caller' && (code === 'UNAUTHENTICATED' || code === 'FORBIDDEN') && status === ERROR_CODES[code].status) return new RideShareError(code, message);
  if (status === 409 && (code === 'UNIQUE_VIOLATION' || code === 'FOREIGN_KEY_VIOLATION')) {
    return new RideShareError(code, message);
  }
  if (status === 400) return new RideShareError('BAD_REQUEST', `the database refused the request: ${message}`);
  if (status === 413) return new RideShareError('RESULT_TOO_LARGE', `the database's answer would be too large: ${message}`);
  // The service's own credentials are wrong (SERVICE_TOKEN): its callers can only wait for a fix.
  if (status === 401 || status === 403) return new UnavailableError(`the database service refused this service's credentials (${status}): ${message}`);
  if (status >= 500) {
    if (code === 'TIMEOUT') return new TimeoutError(`the database service timed out: ${message}`);
    return new UnavailableError(`the database service is unavailable (${status}): ${message}`);
  }
  const known = code !== undefined && isErrorCode(code) ? code : 'status';
  return new RideShareError('INTERNAL', `unexpected answer ${status} (${known}) from the database service: ${message}`);
}

const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE']);

/** A failure to get any answer at all. */
export function errorFromTransport(error: unknown): RideShareError {
  if (error instanceof RideShareError) return error;
  const code = (error as { code?: unknown } | null)?.code;
  const name = (error as { name?: unknown } | null)?.name;
  if (name === 'TimeoutError' || code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT') {
    return new TimeoutError('the database service did not answer in time');
  }
  if (typeof code === 'string' && (UNREACHABLE_CODES.has(code) || code.startsWith('UND_ERR'))) {
    return new UnavailableError(`the database service is unreachable (${code})`);
  }
  return new UnavailableError(`the database service call failed: ${error instanceof Error ? error.message : String(error)}`);
}

// The one error type of the project. Every failure a user can cause (bad input, missing backend,
// malformed file) surfaces as a CalmError whose `code` is machine-readable and whose message names
// the problem and the fix.

/**
 * Machine-readable error codes carried by {@link CalmError}.
 *
 * @remarks
 * - `INVALID_ARGUMENT`: a function argument is out of range or of the wrong kind.
 * - `INVALID_CONFIG`: a configuration object failed validation (all problems are listed at once).
 * - `SHAPE_MISMATCH`: a tensor or typed array has the wrong shape or length.
 * - `DTYPE_UNSUPPORTED`: a dtype this code cannot read or write.
 * - `MISSING_BACKEND`: a requested compute backend is not installed or has no device.
 * - `MISSING_DEPENDENCY`: an optional library is not installed.
 * - `FORMAT_ERROR`: a file (safetensors, pickle, JSON lines, zstd) is malformed or truncated.
 * - `UNSAFE_PICKLE`: a pickle asks for a global or opcode outside the allow-list.
 * - `CHECKPOINT_VERSION`: a checkpoint was written by an incompatible version.
 * - `MISSING_PARAMETER` / `UNEXPECTED_PARAMETER`: a state dict does not match the model.
 * - `BUDGET_EXHAUSTED`: a sampler ran past its call budget.
 * - `IO_ERROR`: a file or network operation failed.
 * - `HTTP_ERROR`: an HTTP endpoint answered with an error or malformed body.
 * - `TIMEOUT`: an operation ran past its deadline.
 * - `ABORTED`: the caller aborted the operation.
 * - `NOT_SUPPORTED`: the operation is not available in this environment.
 * - `WORKER_FAILED`: a worker thread (data-parallel training) failed; the cause says why.
 * - `INTERNAL`: an invariant of ours broke; please report it.
 *
 * @category Errors
 */
export type CalmErrorCode =
  | 'INVALID_ARGUMENT'
  | 'INVALID_CONFIG'
  | 'SHAPE_MISMATCH'
  | 'DTYPE_UNSUPPORTED'
  | 'MISSING_BACKEND'
  | 'MISSING_DEPENDENCY'
  | 'FORMAT_ERROR'
  | 'UNSAFE_PICKLE'
  | 'CHECKPOINT_VERSION'
  | 'MISSING_PARAMETER'
  | 'UNEXPECTED_PARAMETER'
  | 'BUDGET_EXHAUSTED'
  | 'IO_ERROR'
  | 'HTTP_ERROR'
  | 'TIMEOUT'
  | 'ABORTED'
  | 'NOT_SUPPORTED'
  | 'WORKER_FAILED'
  | 'INTERNAL';

/**
 * Options accepted by the {@link CalmError} constructor.
 * @category Errors
 */
export interface CalmErrorOptions {
  /** The underlying error, if any (standard `Error.cause`). */
  cause?: unknown;
  /** The package that raised the error, e.g. `@calm/brierlm`; prefixed to the message. */
  source?: string;
  /** Structured details for programs (file, line, field names, …). */
  details?: Record<string, unknown>;
}

/**
 * The error thrown by every `@calm/*` package for problems the caller can fix.
 *
 * @remarks
 * The message is prefixed with the package (`[@calm/core] …`) and states what is wrong and what
 * to do about it. Match on {@link CalmError.code} rather than on the message text.
 *
 * @example
 * {@includeCode ../test/examples.test.ts#calm-error}
 * @category Errors
 */
export class CalmError extends Error {
  /** Machine-readable code; see {@link CalmErrorCode}. */
  readonly code: CalmErrorCode;
  /** Structured details (file, line, field, …) when the raiser provided them. */
  readonly details: Record<string, unknown> | undefined;

  /**
   * Creates a CalmError.
   * @param code - Machine-readable error code.
   * @param message - What is wrong and how to fix it.
   * @param options - Cause, source package and structured details.
   */
  constructor(code: CalmErrorCode, message: string, options: CalmErrorOptions = {}) {
    const prefix = options.source ? `[${options.source}] ` : '';
    super(prefix + message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'CalmError';
    this.code = code;
    this.details = options.details;
  }
}

/**
 * Tells whether `e` is a {@link CalmError}, optionally with the given code.
 * @param e - Any thrown value.
 * @param code - When given, the error must also carry this code.
 * @returns `true` when `e` is a CalmError (with that code).
 * @category Errors
 */
export function isCalmError(e: unknown, code?: CalmErrorCode): e is CalmError {
  return e instanceof CalmError && (code === undefined || e.code === code);
}

/**
 * Returns a function that throws {@link CalmError}s prefixed with one package's name.
 *
 * @param source - The package name, e.g. `@calm/brierlm`.
 * @returns `fail(code, message, options?)`, which never returns.
 * @example
 * {@includeCode ../test/examples.test.ts#calm-error}
 * @category Errors
 */
export function errorFactory(
  source: string,
): (code: CalmErrorCode, message: string, options?: Omit<CalmErrorOptions, 'source'>) => never {
  return (code, message, options = {}) => {
    throw new CalmError(code, message, { ...options, source });
  };
}

import type { ErrorRequestHandler, NextFunction, Request, RequestHandler, Response } from 'express'
import { ErrorMapper, type ErrorsOptions, errorChannel } from '../errors.ts'
import { type Problem, sendProblem } from '../problem.ts'

export interface ExpressErrorsOptions extends ErrorsOptions {
  /**
   * Called for every server error (5xx) before its response is sent: log it
   * here (hotpath writes nothing to the console). Default: none.
   */
  onError?: (err: unknown, req: Request, problem: Problem) => void
}

/**
 * The error handler for Express: mount it last. Maps every error to
 * application/problem+json (see `ErrorMapper`): body-parser's
 * `entity.parse.failed` → 400, `entity.too.large` → 413, unsupported
 * charset or encoding → 415. 5xx go to `onError` and `hotpath:http:error`.
 */
export function expressErrorHandler(options: ExpressErrorsOptions = {}): ErrorRequestHandler {
  const mapper = new ErrorMapper(options)
  const onError = options.onError
  return (err: unknown, req: Request, res: Response, next: NextFunction): void => {
    // Too late for a problem: let Express end the connection.
    if (res.headersSent) {
      next(err)
      return
    }
    const m = mapper.map(err, { headers: req.headers })
    if (m.serverError) {
      onError?.(err, req, m.problem)
      if (errorChannel.hasSubscribers)
        errorChannel.publish({ error: err, problem: m.problem, request: req })
    }
    sendProblem(res, m.problem, m.headers)
  }
}

/** The 404 problem for requests no route matched: mount it after the routes, before the error handler. */
export function expressNotFound(options: ErrorsOptions = {}): RequestHandler {
  const mapper = new ErrorMapper(options)
  return (req: Request, res: Response): void => {
    sendProblem(res, mapper.notFound(req.method, req.originalUrl))
  }
}

// The outbox worker: sends the mail that requests queued in the `jobs` table
// (in the same transaction as their change), in batches, off the request path.
//
// A claim is its own short transaction: due jobs are picked with FOR UPDATE
// SKIP LOCKED (so any number of workers, in any number of processes, never
// pick the same job), counted as an attempt and leased until `locked_until`.
// The mail is sent after COMMIT, and only then is the job marked done. A
// process that dies between the claim and the mark leaves the job pending:
// once its lease runs out another run sends it. Delivery is at least once —
// a crash after the send and before the mark sends that one mail again.
import type { Db } from 'hotpath/db'
import type { Mailer, MailMessage } from './mailer.ts'

export interface Job {
  id: number
  kind: string
  payload: Record<string, unknown>
  attempts: number
}

export interface OutboxOptions {
  db: Db
  mailer: Mailer
  /** The shop's public address, for the links in the mail (no trailing slash). */
  publicUrl: string
  /** Jobs claimed per run. Default: 20. */
  batchSize?: number
  /** Pause between runs when there was nothing more to do, in ms. Default: 1000. */
  intervalMs?: number
  /** How long a claim is held before another worker may take the job, in ms. Default: 60 s. */
  leaseMs?: number
  /** Attempts before a job is set aside (`failed_at`). Default: 5. */
  maxAttempts?: number
  /** The first retry's delay, doubled each attempt, in ms. Default: 1000. */
  backoffMs?: number
  /** The longest retry delay, in ms. Default: 10 minutes. */
  maxBackoffMs?: number
  /** Told about a run that failed as a whole (the database unreachable, say). */
  onError?: (err: unknown) => void
}

export interface RunResult {
  claimed: number
  sent: number
  failed: number
}

export interface Outbox {
  /** Claims one batch of due jobs and sends it. */
  runOnce(): Promise<RunResult>
  /** Runs on a timer (unref'd: it never keeps the process alive) until `stop`. */
  start(): void
  /** Stops the timer and waits for a run in progress. */
  stop(): Promise<void>
}

const CLAIM_SQL = `UPDATE jobs j SET attempts = j.attempts + 1,
  locked_until = now() + $2 * interval '1 millisecond'
FROM (
  SELECT id FROM jobs
  WHERE done_at IS NULL AND failed_at IS NULL AND run_at <= now()
    AND (locked_until IS NULL OR locked_until < now())
  ORDER BY run_at, id
  LIMIT $1
  FOR UPDATE SKIP LOCKED
) due
WHERE j.id = due.id
RETURNING j.id, j.kind, j.payload, j.attempts`

// The verification token is needed only until the mail is out: it is not kept.
const DONE_SQL = `UPDATE jobs SET done_at = now(), locked_until = NULL, last_error = NULL,
  payload = CASE WHEN kind = 'verify-email' THEN payload - 'token' ELSE payload END
WHERE id = $1 AND done_at IS NULL`

const RETRY_SQL = `UPDATE jobs SET locked_until = NULL, last_error = $2,
  run_at = now() + $3 * interval '1 millisecond'
WHERE id = $1 AND done_at IS NULL`

const GIVE_UP_SQL = `UPDATE jobs SET locked_until = NULL, last_error = $2, failed_at = now()
WHERE id = $1 AND done_at IS NULL`

const str = (v: unknown): string => (typeof v === 'string' ? v : String(v ?? ''))

/** The message of a job; throws for a kind it does not know (retried, then set aside). */
export function render(job: Job, publicUrl: string): MailMessage {
  const p = job.payload
  switch (job.kind) {
    case 'verify-email': {
      const token = str(p.token)
      if (token === '') throw new Error(`job ${job.id}: no token`)
      return {
        to: str(p.email),
        subject: 'Confirm your e-mail address',
        text: [
          `Hello ${str(p.name)},`,
          '',
          'Confirm your e-mail address with this link:',
          `${publicUrl}/verify-email?token=${encodeURIComponent(token)}`,
          '',
          `(or POST {"token": "${token}"} to ${publicUrl}/auth/verify-email)`,
          '',
          'The link works for 24 hours.',
        ].join('\n'),
      }
    }
    case 'order-confirmation':
      return {
        to: str(p.email),
        subject: `Your order ${str(p.orderId)}`,
        text: [
          `Hello ${str(p.name)},`,
          '',
          `Thank you for your order ${str(p.orderId)} (total ${str(p.total)}).`,
          `See it at ${publicUrl}/api/orders/${str(p.orderId)}.`,
        ].join('\n'),
      }
    default:
      throw new Error(`job ${job.id}: unknown kind "${job.kind}"`)
  }
}

function positive(name: string, v: number): number {
  if (!Number.isInteger(v) || v < 1) throw new RangeError(`${name}: expected a positive integer`)
  return v
}

export function createOutbox(options: OutboxOptions): Outbox {
  const { db, mailer, publicUrl, onError = () => {} } = options
  const batchSize = positive('batchSize', options.batchSize ?? 20)
  const intervalMs = positive('intervalMs', options.intervalMs ?? 1000)
  const leaseMs = positive('leaseMs', options.leaseMs ?? 60_000)
  const maxAttempts = positive('maxAttempts', options.maxAttempts ?? 5)
  const backoffMs = positive('backoffMs', options.backoffMs ?? 1000)
  const maxBackoffMs = positive('maxBackoffMs', options.maxBackoffMs ?? 600_000)

  async function one(job: Job): Promise<boolean> {
    try {
      await mailer.send(render(job, publicUrl))
    } catch (err) {
      const reason = String((err as Error)?.message ?? err).slice(0, 500)
      if (job.attempts >= maxAttempts) {
        await db.query(GIVE_UP_SQL, [job.id, reason], { name: 'jobs.giveUp' })
      } else {
        const delay = Math.min(maxBackoffMs, backoffMs * 2 ** (job.attempts - 1))
        await db.query(RETRY_SQL, [job.id, reason, delay], { name: 'jobs.retry' })
      }
      return false
    }
    await db.query(DONE_SQL, [job.id], { name: 'jobs.done' })
    return true
  }

  async function runOnce(): Promise<RunResult> {
    const jobs = await db.transaction(async (tx) => {
      const { rows } = await tx.query<Job>(CLAIM_SQL, [batchSize, leaseMs], { name: 'jobs.claim' })
      return rows
    })
    jobs.sort((a, b) => a.id - b.id)
    let sent = 0
    // One at a time: a mailer is usually rate-limited, and order is kept.
    for (const job of jobs) if (await one(job)) sent++
    return { claimed: jobs.length, sent, failed: jobs.length - sent }
  }

  let timer: NodeJS.Timeout | null = null
  let running: Promise<void> | null = null
  let stopped = true

  function schedule(delay: number): void {
    if (stopped) return
    timer = setTimeout(tick, delay)
    timer.unref()
  }

  function tick(): void {
    timer = null
    running = runOnce().then(
      // A full batch: there may be more waiting, so go again at once.
      (r) => schedule(r.claimed === batchSize ? 0 : intervalMs),
      (err: unknown) => {
        onError(err)
        schedule(intervalMs)
      },
    )
  }

  return {
    runOnce,
    start() {
      if (!stopped) return
      stopped = false
      schedule(0)
    },
    async stop() {
      stopped = true
      if (timer !== null) clearTimeout(timer)
      timer = null
      await running
    },
  }
}

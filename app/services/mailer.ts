// The mail interface the outbox worker sends through, and its default: one
// RFC 5322 message file per mail in a local folder (open them with any mail
// client, or read them in tests). A real provider implements `Mailer` too.
import { randomBytes } from 'node:crypto'
import { mkdir, rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'

export interface MailMessage {
  to: string
  subject: string
  text: string
}

export interface Mailer {
  /** Resolves once the message is accepted; a rejection leaves the job to be retried. */
  send(message: MailMessage): Promise<void>
}

/** A header value on one line: a CR or LF in a value would start a new header. */
const oneLine = (s: string): string => s.replace(/[\r\n]+/g, ' ')

/** Writes each message to `dir/<time>-<random>.eml`, creating `dir` on first use. */
export function folderMailer(dir: string, from = 'shop@localhost'): Mailer {
  let made: Promise<unknown> | null = null
  return {
    async send({ to, subject, text }) {
      made ??= mkdir(dir, { recursive: true })
      await made
      const name = `${Date.now()}-${randomBytes(4).toString('hex')}.eml`
      const body = [
        `From: ${oneLine(from)}`,
        `To: ${oneLine(to)}`,
        `Subject: ${oneLine(subject)}`,
        `Date: ${new Date().toUTCString()}`,
        'MIME-Version: 1.0',
        'Content-Type: text/plain; charset=utf-8',
        '',
        text,
      ].join('\r\n')
      // Written aside, then renamed: a reader never sees half a message.
      const tmp = join(dir, `.${name}.tmp`)
      await writeFile(tmp, body)
      await rename(tmp, join(dir, name))
    },
  }
}

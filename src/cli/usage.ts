/** A command line the user got wrong: its message is printed and the exit code is 2. */
export class UsageError extends Error {}

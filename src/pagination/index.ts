export { HotpathError, isHotpathError } from '../errors.ts'
export {
  type CursorCodec,
  type CursorCodecOptions,
  type CursorPayload,
  type CursorValue,
  createCursorCodec,
  type Direction,
  MAX_CURSOR_LENGTH,
  type Secret,
} from './cursor.ts'
export { SORT_KEY_COLUMN } from './envelope.ts'
export {
  createKeyset,
  type KeysetListing,
  type KeysetOptions,
  type KeysetPage,
  type KeysetQuery,
  type KeysetRequest,
  keysetPage,
  type PageInfo,
} from './keyset.ts'
export {
  createOffset,
  type OffsetListing,
  type OffsetOptions,
  type OffsetPage,
  type OffsetPageInfo,
  type OffsetQuery,
  type OffsetRequest,
  offsetPage,
} from './offset.ts'
export {
  type ListingOptions,
  type Order,
  paginationDefaults,
  type SortColumn,
} from './options.ts'
export { type PaginationParams, type ParseOptions, parsePaginationParams } from './params.ts'
export type { SortRequest } from './request.ts'
export type { SqlFragment } from './sql.ts'

// The guides' `CacheKeys` is hotpath's: the same builder the data layer keys
// query results with, so `CacheKeys.queryResult(sql, params)` finds them.
export { CacheKeys, createKeys, type KeyBuilder, type KeyBuilderOptions } from '../cache/keys.ts'

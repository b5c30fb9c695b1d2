/**
 * etcd's v3 JSON gateway speaks proto3 JSON: bytes are base64, int64s are decimal strings (a
 * lease ID passes 2^53), and a field at its default (0, false, "", PUT, an empty list) is left
 * out altogether: a failed txn has no `succeeded`, an empty range no `kvs` and no `count`, a PUT
 * event no `type`. Everything coming from etcd goes through these readers, so a missing field
 * is its default and never `undefined` further in.
 */
import type { KeyValue } from './kv-store.js';

export interface RawKeyValue {
  key?: string;
  value?: string;
  create_revision?: string | number;
  mod_revision?: string | number;
  version?: string | number;
  lease?: string | number;
}

export interface RawHeader {
  revision?: string | number;
}

export interface RawEvent {
  type?: 'PUT' | 'DELETE';
  kv?: RawKeyValue;
  prev_kv?: RawKeyValue;
}

export function toBase64(text: string | Buffer): string {
  return (typeof text === 'string' ? Buffer.from(text, 'utf8') : text).toString('base64');
}

export function fromBase64(b64: string | undefined): string {
  return Buffer.from(b64 ?? '', 'base64').toString('utf8');
}

/** An int64 as etcd sends it (string, number or omitted) as a Number; revisions and TTLs fit. */
export function int64(value: string | number | undefined): number {
  if (value === undefined || value === '') return 0;
  const n = typeof value === 'number' ? value : Number(value);
  if (!Number.isSafeInteger(n)) throw new Error(`etcd sent ${JSON.stringify(value)} where an integer was expected`);
  return n;
}

/** A lease ID as a decimal string; "0" and omitted mean no lease. */
export function leaseId(value: string | number | undefined): string | undefined {
  if (value === undefined) return undefined;
  const text = String(value);
  return text === '0' || text === '' ? undefined : text;
}

export function decodeKv(raw: RawKeyValue): KeyValue {
  const kv: KeyValue = {
    key: fromBase64(raw.key),
    value: fromBase64(raw.value),
    createRevision: int64(raw.create_revision),
    modRevision: int64(raw.mod_revision),
    version: int64(raw.version),
  };
  const lease = leaseId(raw.lease);
  if (lease !== undefined) kv.lease = lease;
  return kv;
}

export function headerRevision(res: { header?: RawHeader }): number {
  return int64(res.header?.revision);
}

/**
 * Route messages (RTM_*ROUTE), IPv4 unicast. Two helpers the package lacks:
 * RTNH_F_ONLINK is not among its RouteFlags names (it travels as
 * `__unknown: 4`), and tables above 255 need RTA_TABLE (rtm_table is a byte),
 * so RTA_TABLE is always sent and read first.
 *
 * A delete matches as `ip route del` does: scope NOWHERE, protocol and type 0
 * (any), so only dst/len, table, and what the key gives (metric, gateway, oif).
 */
import { AttrStream, rt } from 'netlink';
import { AF_INET } from './address-codec.js';
import { bufferToIpv4, canonicalCidr, ipv4ToBuffer, parseCidr } from './inet.js';
import { ROUTE_PROTOCOL, type RouteInfo, type RouteKey, type RouteScope, type RouteSpec } from './types.js';

export const RT_TABLE_MAIN = 254;
const RTNH_F_ONLINK = 4;
const RTN_UNICAST = 1;
const RT_SCOPE_NOWHERE = 255;
const SCOPES: Record<RouteScope, number> = { universe: 0, link: 253, host: 254 };

/** The package turns known enum values into their names; we want the numbers. */
function enumNumber(mapping: Record<string, string | number>, value: unknown): number {
  if (typeof value === 'number') return value;
  const n = typeof value === 'string' ? mapping[value] : undefined;
  return typeof n === 'number' ? n : 0;
}

function routeMessage(data: rt.Route, attrs: rt.RouteAttrs): Uint8Array[] {
  const stream = new AttrStream();
  rt.formatRouteMessage({ kind: 'route', data, attrs }, stream);
  return stream.bufs;
}

function dstAttrs(dst: string): { dstLen: number; attrs: rt.RouteAttrs } {
  const { address, prefixLength } = parseCidr(canonicalCidr(dst));
  return { dstLen: prefixLength, attrs: prefixLength === 0 ? {} : { dst: ipv4ToBuffer(address) } };
}

export function newRoutePayload(route: RouteSpec): Uint8Array[] {
  const table = route.table ?? RT_TABLE_MAIN;
  const { dstLen, attrs } = dstAttrs(route.dst);
  const scope = route.scope ?? (route.gateway === undefined ? 'link' : 'universe');
  return routeMessage({
    family: AF_INET,
    dstLen,
    table: table < 256 ? table : 0,
    protocol: route.protocol ?? ROUTE_PROTOCOL.boot,
    scope: SCOPES[scope],
    type: RTN_UNICAST,
    ...(route.onlink === true ? { flags: { __unknown: RTNH_F_ONLINK } } : {}),
  }, {
    ...attrs,
    table,
    ...(route.gateway === undefined ? {} : { gateway: ipv4ToBuffer(route.gateway) }),
    ...(route.index === undefined ? {} : { oif: route.index }),
    ...(route.metric === undefined ? {} : { priority: route.metric }),
    ...(route.source === undefined ? {} : { prefsrc: ipv4ToBuffer(route.source) }),
  });
}

export function deleteRoutePayload(route: RouteKey): Uint8Array[] {
  const table = route.table ?? RT_TABLE_MAIN;
  const { dstLen, attrs } = dstAttrs(route.dst);
  return routeMessage({ family: AF_INET, dstLen, table: table < 256 ? table : 0, scope: RT_SCOPE_NOWHERE }, {
    ...attrs,
    table,
    ...(route.gateway === undefined ? {} : { gateway: ipv4ToBuffer(route.gateway) }),
    ...(route.index === undefined ? {} : { oif: route.index }),
    ...(route.metric === undefined ? {} : { priority: route.metric }),
  });
}

export function dumpRoutesPayload(): Uint8Array[] {
  return routeMessage({ family: AF_INET }, {});
}

function scopeName(scope: number): RouteScope {
  return scope === SCOPES.link ? 'link' : scope === SCOPES.host ? 'host' : 'universe';
}

/** The route, if it is an IPv4 unicast route of `table`. */
export function toRouteInfo(message: rt.RouteMessage, table: number): RouteInfo | undefined {
  const { data, attrs } = message;
  const routeTable = attrs.table ?? data.table ?? 0;
  if (data.family !== AF_INET || routeTable !== table || enumNumber(rt.RouteType, data.type) !== RTN_UNICAST) return undefined;
  const dstLen = data.dstLen ?? 0;
  return {
    dst: `${attrs.dst === undefined ? '0.0.0.0' : bufferToIpv4(attrs.dst)}/${dstLen}`,
    gateway: attrs.gateway === undefined ? undefined : bufferToIpv4(attrs.gateway),
    index: attrs.oif,
    onlink: ((data.flags?.__unknown ?? 0) & RTNH_F_ONLINK) !== 0,
    table: routeTable,
    scope: scopeName(enumNumber(rt.RouteScope, data.scope)),
    protocol: enumNumber(rt.RouteProtocol, data.protocol),
    metric: attrs.priority ?? 0,
    source: attrs.prefsrc === undefined ? undefined : bufferToIpv4(attrs.prefsrc),
  };
}

export function describeRoute(route: { dst: string; table?: number }): string {
  const table = route.table ?? RT_TABLE_MAIN;
  return `route ${route.dst}${table === RT_TABLE_MAIN ? '' : ` table ${table}`}`;
}

/** rkt's --local-config: where the host's own Skiff settings live (net.d/ for networks). */
export const DEFAULT_LOCAL_CONFIG = '/etc/skiff';
export const LOCAL_CONFIG_ENV = 'SKIFF_LOCAL_CONFIG';

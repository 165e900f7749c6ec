// libvirt constants and error-name tables — generated — do not edit.
// Source: libvirt-api.xml, libvirt-qemu-api.xml (libvirt 9000000).
// Regenerate with: node scripts/gen-libvirt-constants.js
/* eslint-disable */

/** LIBVIR_VERSION_NUMBER of the API description these constants came from. */
export const GENERATED_FROM_LIBVIRT_VERSION = 9000000;

/** virErrorNumber: number → symbolic name. */
export const VIR_ERROR_CODE_NAMES: Readonly<Record<number, string>> = Object.freeze({
  0: 'VIR_ERR_OK',
  1: 'VIR_ERR_INTERNAL_ERROR',
  2: 'VIR_ERR_NO_MEMORY',
  3: 'VIR_ERR_NO_SUPPORT',
  4: 'VIR_ERR_UNKNOWN_HOST',
  5: 'VIR_ERR_NO_CONNECT',
  6: 'VIR_ERR_INVALID_CONN',
  7: 'VIR_ERR_INVALID_DOMAIN',
  8: 'VIR_ERR_INVALID_ARG',
  9: 'VIR_ERR_OPERATION_FAILED',
  10: 'VIR_ERR_GET_FAILED',
  11: 'VIR_ERR_POST_FAILED',
  12: 'VIR_ERR_HTTP_ERROR',
  13: 'VIR_ERR_SEXPR_SERIAL',
  14: 'VIR_ERR_NO_XEN',
  15: 'VIR_ERR_XEN_CALL',
  16: 'VIR_ERR_OS_TYPE',
  17: 'VIR_ERR_NO_KERNEL',
  18: 'VIR_ERR_NO_ROOT',
  19: 'VIR_ERR_NO_SOURCE',
  20: 'VIR_ERR_NO_TARGET',
  21: 'VIR_ERR_NO_NAME',
  22: 'VIR_ERR_NO_OS',
  23: 'VIR_ERR_NO_DEVICE',
  24: 'VIR_ERR_NO_XENSTORE',
  25: 'VIR_ERR_DRIVER_FULL',
  26: 'VIR_ERR_CALL_FAILED',
  27: 'VIR_ERR_XML_ERROR',
  28: 'VIR_ERR_DOM_EXIST',
  29: 'VIR_ERR_OPERATION_DENIED',
  30: 'VIR_ERR_OPEN_FAILED',
  31: 'VIR_ERR_READ_FAILED',
  32: 'VIR_ERR_PARSE_FAILED',
  33: 'VIR_ERR_CONF_SYNTAX',
  34: 'VIR_ERR_WRITE_FAILED',
  35: 'VIR_ERR_XML_DETAIL',
  36: 'VIR_ERR_INVALID_NETWORK',
  37: 'VIR_ERR_NETWORK_EXIST',
  38: 'VIR_ERR_SYSTEM_ERROR',
  39: 'VIR_ERR_RPC',
  40: 'VIR_ERR_GNUTLS_ERROR',
  41: 'VIR_WAR_NO_NETWORK',
  42: 'VIR_ERR_NO_DOMAIN',
  43: 'VIR_ERR_NO_NETWORK',
  44: 'VIR_ERR_INVALID_MAC',
  45: 'VIR_ERR_AUTH_FAILED',
  46: 'VIR_ERR_INVALID_STORAGE_POOL',
  47: 'VIR_ERR_INVALID_STORAGE_VOL',
  48: 'VIR_WAR_NO_STORAGE',
  49: 'VIR_ERR_NO_STORAGE_POOL',
  50: 'VIR_ERR_NO_STORAGE_VOL',
  51: 'VIR_WAR_NO_NODE',
  52: 'VIR_ERR_INVALID_NODE_DEVICE',
  53: 'VIR_ERR_NO_NODE_DEVICE',
  54: 'VIR_ERR_NO_SECURITY_MODEL',
  55: 'VIR_ERR_OPERATION_INVALID',
  56: 'VIR_WAR_NO_INTERFACE',
  57: 'VIR_ERR_NO_INTERFACE',
  58: 'VIR_ERR_INVALID_INTERFACE',
  59: 'VIR_ERR_MULTIPLE_INTERFACES',
  60: 'VIR_WAR_NO_NWFILTER',
  61: 'VIR_ERR_INVALID_NWFILTER',
  62: 'VIR_ERR_NO_NWFILTER',
  63: 'VIR_ERR_BUILD_FIREWALL',
  64: 'VIR_WAR_NO_SECRET',
  65: 'VIR_ERR_INVALID_SECRET',
  66: 'VIR_ERR_NO_SECRET',
  67: 'VIR_ERR_CONFIG_UNSUPPORTED',
  68: 'VIR_ERR_OPERATION_TIMEOUT',
  69: 'VIR_ERR_MIGRATE_PERSIST_FAILED',
  70: 'VIR_ERR_HOOK_SCRIPT_FAILED',
  71: 'VIR_ERR_INVALID_DOMAIN_SNAPSHOT',
  72: 'VIR_ERR_NO_DOMAIN_SNAPSHOT',
  73: 'VIR_ERR_INVALID_STREAM',
  74: 'VIR_ERR_ARGUMENT_UNSUPPORTED',
  75: 'VIR_ERR_STORAGE_PROBE_FAILED',
  76: 'VIR_ERR_STORAGE_POOL_BUILT',
  77: 'VIR_ERR_SNAPSHOT_REVERT_RISKY',
  78: 'VIR_ERR_OPERATION_ABORTED',
  79: 'VIR_ERR_AUTH_CANCELLED',
  80: 'VIR_ERR_NO_DOMAIN_METADATA',
  81: 'VIR_ERR_MIGRATE_UNSAFE',
  82: 'VIR_ERR_OVERFLOW',
  83: 'VIR_ERR_BLOCK_COPY_ACTIVE',
  84: 'VIR_ERR_OPERATION_UNSUPPORTED',
  85: 'VIR_ERR_SSH',
  86: 'VIR_ERR_AGENT_UNRESPONSIVE',
  87: 'VIR_ERR_RESOURCE_BUSY',
  88: 'VIR_ERR_ACCESS_DENIED',
  89: 'VIR_ERR_DBUS_SERVICE',
  90: 'VIR_ERR_STORAGE_VOL_EXIST',
  91: 'VIR_ERR_CPU_INCOMPATIBLE',
  92: 'VIR_ERR_XML_INVALID_SCHEMA',
  93: 'VIR_ERR_MIGRATE_FINISH_OK',
  94: 'VIR_ERR_AUTH_UNAVAILABLE',
  95: 'VIR_ERR_NO_SERVER',
  96: 'VIR_ERR_NO_CLIENT',
  97: 'VIR_ERR_AGENT_UNSYNCED',
  98: 'VIR_ERR_LIBSSH',
  99: 'VIR_ERR_DEVICE_MISSING',
  100: 'VIR_ERR_INVALID_NWFILTER_BINDING',
  101: 'VIR_ERR_NO_NWFILTER_BINDING',
  102: 'VIR_ERR_INVALID_DOMAIN_CHECKPOINT',
  103: 'VIR_ERR_NO_DOMAIN_CHECKPOINT',
  104: 'VIR_ERR_NO_DOMAIN_BACKUP',
  105: 'VIR_ERR_INVALID_NETWORK_PORT',
  106: 'VIR_ERR_NETWORK_PORT_EXIST',
  107: 'VIR_ERR_NO_NETWORK_PORT',
  108: 'VIR_ERR_NO_HOSTNAME',
  109: 'VIR_ERR_CHECKPOINT_INCONSISTENT',
  110: 'VIR_ERR_MULTIPLE_DOMAINS',
});

/** virErrorDomain: number → symbolic name. */
export const VIR_ERROR_DOMAIN_NAMES: Readonly<Record<number, string>> = Object.freeze({
  0: 'VIR_FROM_NONE',
  1: 'VIR_FROM_XEN',
  2: 'VIR_FROM_XEND',
  3: 'VIR_FROM_XENSTORE',
  4: 'VIR_FROM_SEXPR',
  5: 'VIR_FROM_XML',
  6: 'VIR_FROM_DOM',
  7: 'VIR_FROM_RPC',
  8: 'VIR_FROM_PROXY',
  9: 'VIR_FROM_CONF',
  10: 'VIR_FROM_QEMU',
  11: 'VIR_FROM_NET',
  12: 'VIR_FROM_TEST',
  13: 'VIR_FROM_REMOTE',
  14: 'VIR_FROM_OPENVZ',
  15: 'VIR_FROM_XENXM',
  16: 'VIR_FROM_STATS_LINUX',
  17: 'VIR_FROM_LXC',
  18: 'VIR_FROM_STORAGE',
  19: 'VIR_FROM_NETWORK',
  20: 'VIR_FROM_DOMAIN',
  21: 'VIR_FROM_UML',
  22: 'VIR_FROM_NODEDEV',
  23: 'VIR_FROM_XEN_INOTIFY',
  24: 'VIR_FROM_SECURITY',
  25: 'VIR_FROM_VBOX',
  26: 'VIR_FROM_INTERFACE',
  27: 'VIR_FROM_ONE',
  28: 'VIR_FROM_ESX',
  29: 'VIR_FROM_PHYP',
  30: 'VIR_FROM_SECRET',
  31: 'VIR_FROM_CPU',
  32: 'VIR_FROM_XENAPI',
  33: 'VIR_FROM_NWFILTER',
  34: 'VIR_FROM_HOOK',
  35: 'VIR_FROM_DOMAIN_SNAPSHOT',
  36: 'VIR_FROM_AUDIT',
  37: 'VIR_FROM_SYSINFO',
  38: 'VIR_FROM_STREAMS',
  39: 'VIR_FROM_VMWARE',
  40: 'VIR_FROM_EVENT',
  41: 'VIR_FROM_LIBXL',
  42: 'VIR_FROM_LOCKING',
  43: 'VIR_FROM_HYPERV',
  44: 'VIR_FROM_CAPABILITIES',
  45: 'VIR_FROM_URI',
  46: 'VIR_FROM_AUTH',
  47: 'VIR_FROM_DBUS',
  48: 'VIR_FROM_PARALLELS',
  49: 'VIR_FROM_DEVICE',
  50: 'VIR_FROM_SSH',
  51: 'VIR_FROM_LOCKSPACE',
  52: 'VIR_FROM_INITCTL',
  53: 'VIR_FROM_IDENTITY',
  54: 'VIR_FROM_CGROUP',
  55: 'VIR_FROM_ACCESS',
  56: 'VIR_FROM_SYSTEMD',
  57: 'VIR_FROM_BHYVE',
  58: 'VIR_FROM_CRYPTO',
  59: 'VIR_FROM_FIREWALL',
  60: 'VIR_FROM_POLKIT',
  61: 'VIR_FROM_THREAD',
  62: 'VIR_FROM_ADMIN',
  63: 'VIR_FROM_LOGGING',
  64: 'VIR_FROM_XENXL',
  65: 'VIR_FROM_PERF',
  66: 'VIR_FROM_LIBSSH',
  67: 'VIR_FROM_RESCTRL',
  68: 'VIR_FROM_FIREWALLD',
  69: 'VIR_FROM_DOMAIN_CHECKPOINT',
  70: 'VIR_FROM_TPM',
  71: 'VIR_FROM_BPF',
  72: 'VIR_FROM_CH',
});

export const virBlkioParameterType = {
  VIR_DOMAIN_BLKIO_PARAM_INT: 1,
  VIR_DOMAIN_BLKIO_PARAM_UINT: 2,
  VIR_DOMAIN_BLKIO_PARAM_LLONG: 3,
  VIR_DOMAIN_BLKIO_PARAM_ULLONG: 4,
  VIR_DOMAIN_BLKIO_PARAM_DOUBLE: 5,
  VIR_DOMAIN_BLKIO_PARAM_BOOLEAN: 6,
} as const;
export type virBlkioParameterType = (typeof virBlkioParameterType)[keyof typeof virBlkioParameterType];

export const virCPUCompareResult = {
  VIR_CPU_COMPARE_ERROR: -1,
  VIR_CPU_COMPARE_INCOMPATIBLE: 0,
  VIR_CPU_COMPARE_IDENTICAL: 1,
  VIR_CPU_COMPARE_SUPERSET: 2,
  VIR_CPU_COMPARE_LAST: 3,
} as const;
export type virCPUCompareResult = (typeof virCPUCompareResult)[keyof typeof virCPUCompareResult];

export const virConnectBaselineCPUFlags = {
  VIR_CONNECT_BASELINE_CPU_EXPAND_FEATURES: 1,
  VIR_CONNECT_BASELINE_CPU_MIGRATABLE: 2,
} as const;
export type virConnectBaselineCPUFlags =
  (typeof virConnectBaselineCPUFlags)[keyof typeof virConnectBaselineCPUFlags];

export const virConnectCloseReason = {
  VIR_CONNECT_CLOSE_REASON_ERROR: 0,
  VIR_CONNECT_CLOSE_REASON_EOF: 1,
  VIR_CONNECT_CLOSE_REASON_KEEPALIVE: 2,
  VIR_CONNECT_CLOSE_REASON_CLIENT: 3,
  VIR_CONNECT_CLOSE_REASON_LAST: 4,
} as const;
export type virConnectCloseReason = (typeof virConnectCloseReason)[keyof typeof virConnectCloseReason];

export const virConnectCompareCPUFlags = {
  VIR_CONNECT_COMPARE_CPU_FAIL_INCOMPATIBLE: 1,
  VIR_CONNECT_COMPARE_CPU_VALIDATE_XML: 2,
} as const;
export type virConnectCompareCPUFlags =
  (typeof virConnectCompareCPUFlags)[keyof typeof virConnectCompareCPUFlags];

export const virConnectCredentialType = {
  VIR_CRED_USERNAME: 1,
  VIR_CRED_AUTHNAME: 2,
  VIR_CRED_LANGUAGE: 3,
  VIR_CRED_CNONCE: 4,
  VIR_CRED_PASSPHRASE: 5,
  VIR_CRED_ECHOPROMPT: 6,
  VIR_CRED_NOECHOPROMPT: 7,
  VIR_CRED_REALM: 8,
  VIR_CRED_EXTERNAL: 9,
  VIR_CRED_LAST: 10,
} as const;
export type virConnectCredentialType =
  (typeof virConnectCredentialType)[keyof typeof virConnectCredentialType];

export const virConnectDomainEventAgentLifecycleReason = {
  VIR_CONNECT_DOMAIN_EVENT_AGENT_LIFECYCLE_REASON_UNKNOWN: 0,
  VIR_CONNECT_DOMAIN_EVENT_AGENT_LIFECYCLE_REASON_DOMAIN_STARTED: 1,
  VIR_CONNECT_DOMAIN_EVENT_AGENT_LIFECYCLE_REASON_CHANNEL: 2,
  VIR_CONNECT_DOMAIN_EVENT_AGENT_LIFECYCLE_REASON_LAST: 3,
} as const;
export type virConnectDomainEventAgentLifecycleReason =
  (typeof virConnectDomainEventAgentLifecycleReason)[keyof typeof virConnectDomainEventAgentLifecycleReason];

export const virConnectDomainEventAgentLifecycleState = {
  VIR_CONNECT_DOMAIN_EVENT_AGENT_LIFECYCLE_STATE_CONNECTED: 1,
  VIR_CONNECT_DOMAIN_EVENT_AGENT_LIFECYCLE_STATE_DISCONNECTED: 2,
  VIR_CONNECT_DOMAIN_EVENT_AGENT_LIFECYCLE_STATE_LAST: 3,
} as const;
export type virConnectDomainEventAgentLifecycleState =
  (typeof virConnectDomainEventAgentLifecycleState)[keyof typeof virConnectDomainEventAgentLifecycleState];

export const virConnectDomainEventBlockJobStatus = {
  VIR_DOMAIN_BLOCK_JOB_COMPLETED: 0,
  VIR_DOMAIN_BLOCK_JOB_FAILED: 1,
  VIR_DOMAIN_BLOCK_JOB_CANCELED: 2,
  VIR_DOMAIN_BLOCK_JOB_READY: 3,
  VIR_DOMAIN_BLOCK_JOB_LAST: 4,
} as const;
export type virConnectDomainEventBlockJobStatus =
  (typeof virConnectDomainEventBlockJobStatus)[keyof typeof virConnectDomainEventBlockJobStatus];

export const virConnectDomainEventDiskChangeReason = {
  VIR_DOMAIN_EVENT_DISK_CHANGE_MISSING_ON_START: 0,
  VIR_DOMAIN_EVENT_DISK_DROP_MISSING_ON_START: 1,
  VIR_DOMAIN_EVENT_DISK_CHANGE_LAST: 2,
} as const;
export type virConnectDomainEventDiskChangeReason =
  (typeof virConnectDomainEventDiskChangeReason)[keyof typeof virConnectDomainEventDiskChangeReason];

export const virConnectDomainQemuMonitorEventRegisterFlags = {
  VIR_CONNECT_DOMAIN_QEMU_MONITOR_EVENT_REGISTER_REGEX: 1,
  VIR_CONNECT_DOMAIN_QEMU_MONITOR_EVENT_REGISTER_NOCASE: 2,
} as const;
export type virConnectDomainQemuMonitorEventRegisterFlags =
  (typeof virConnectDomainQemuMonitorEventRegisterFlags)[keyof typeof virConnectDomainQemuMonitorEventRegisterFlags];

export const virConnectFlags = {
  VIR_CONNECT_RO: 1,
  VIR_CONNECT_NO_ALIASES: 2,
} as const;
export type virConnectFlags = (typeof virConnectFlags)[keyof typeof virConnectFlags];

export const virConnectGetAllDomainStatsFlags = {
  VIR_CONNECT_GET_ALL_DOMAINS_STATS_ACTIVE: 1,
  VIR_CONNECT_GET_ALL_DOMAINS_STATS_INACTIVE: 2,
  VIR_CONNECT_GET_ALL_DOMAINS_STATS_PERSISTENT: 4,
  VIR_CONNECT_GET_ALL_DOMAINS_STATS_TRANSIENT: 8,
  VIR_CONNECT_GET_ALL_DOMAINS_STATS_RUNNING: 16,
  VIR_CONNECT_GET_ALL_DOMAINS_STATS_PAUSED: 32,
  VIR_CONNECT_GET_ALL_DOMAINS_STATS_SHUTOFF: 64,
  VIR_CONNECT_GET_ALL_DOMAINS_STATS_OTHER: 128,
  VIR_CONNECT_GET_ALL_DOMAINS_STATS_NOWAIT: 536870912,
  VIR_CONNECT_GET_ALL_DOMAINS_STATS_BACKING: 1073741824,
  VIR_CONNECT_GET_ALL_DOMAINS_STATS_ENFORCE_STATS: 2147483648,
} as const;
export type virConnectGetAllDomainStatsFlags =
  (typeof virConnectGetAllDomainStatsFlags)[keyof typeof virConnectGetAllDomainStatsFlags];

export const virConnectListAllDomainsFlags = {
  VIR_CONNECT_LIST_DOMAINS_ACTIVE: 1,
  VIR_CONNECT_LIST_DOMAINS_INACTIVE: 2,
  VIR_CONNECT_LIST_DOMAINS_PERSISTENT: 4,
  VIR_CONNECT_LIST_DOMAINS_TRANSIENT: 8,
  VIR_CONNECT_LIST_DOMAINS_RUNNING: 16,
  VIR_CONNECT_LIST_DOMAINS_PAUSED: 32,
  VIR_CONNECT_LIST_DOMAINS_SHUTOFF: 64,
  VIR_CONNECT_LIST_DOMAINS_OTHER: 128,
  VIR_CONNECT_LIST_DOMAINS_MANAGEDSAVE: 256,
  VIR_CONNECT_LIST_DOMAINS_NO_MANAGEDSAVE: 512,
  VIR_CONNECT_LIST_DOMAINS_AUTOSTART: 1024,
  VIR_CONNECT_LIST_DOMAINS_NO_AUTOSTART: 2048,
  VIR_CONNECT_LIST_DOMAINS_HAS_SNAPSHOT: 4096,
  VIR_CONNECT_LIST_DOMAINS_NO_SNAPSHOT: 8192,
  VIR_CONNECT_LIST_DOMAINS_HAS_CHECKPOINT: 16384,
  VIR_CONNECT_LIST_DOMAINS_NO_CHECKPOINT: 32768,
} as const;
export type virConnectListAllDomainsFlags =
  (typeof virConnectListAllDomainsFlags)[keyof typeof virConnectListAllDomainsFlags];

export const virConnectListAllInterfacesFlags = {
  VIR_CONNECT_LIST_INTERFACES_INACTIVE: 1,
  VIR_CONNECT_LIST_INTERFACES_ACTIVE: 2,
} as const;
export type virConnectListAllInterfacesFlags =
  (typeof virConnectListAllInterfacesFlags)[keyof typeof virConnectListAllInterfacesFlags];

export const virConnectListAllNetworksFlags = {
  VIR_CONNECT_LIST_NETWORKS_INACTIVE: 1,
  VIR_CONNECT_LIST_NETWORKS_ACTIVE: 2,
  VIR_CONNECT_LIST_NETWORKS_PERSISTENT: 4,
  VIR_CONNECT_LIST_NETWORKS_TRANSIENT: 8,
  VIR_CONNECT_LIST_NETWORKS_AUTOSTART: 16,
  VIR_CONNECT_LIST_NETWORKS_NO_AUTOSTART: 32,
} as const;
export type virConnectListAllNetworksFlags =
  (typeof virConnectListAllNetworksFlags)[keyof typeof virConnectListAllNetworksFlags];

export const virConnectListAllNodeDeviceFlags = {
  VIR_CONNECT_LIST_NODE_DEVICES_CAP_SYSTEM: 1,
  VIR_CONNECT_LIST_NODE_DEVICES_CAP_PCI_DEV: 2,
  VIR_CONNECT_LIST_NODE_DEVICES_CAP_USB_DEV: 4,
  VIR_CONNECT_LIST_NODE_DEVICES_CAP_USB_INTERFACE: 8,
  VIR_CONNECT_LIST_NODE_DEVICES_CAP_NET: 16,
  VIR_CONNECT_LIST_NODE_DEVICES_CAP_SCSI_HOST: 32,
  VIR_CONNECT_LIST_NODE_DEVICES_CAP_SCSI_TARGET: 64,
  VIR_CONNECT_LIST_NODE_DEVICES_CAP_SCSI: 128,
  VIR_CONNECT_LIST_NODE_DEVICES_CAP_STORAGE: 256,
  VIR_CONNECT_LIST_NODE_DEVICES_CAP_FC_HOST: 512,
  VIR_CONNECT_LIST_NODE_DEVICES_CAP_VPORTS: 1024,
  VIR_CONNECT_LIST_NODE_DEVICES_CAP_SCSI_GENERIC: 2048,
  VIR_CONNECT_LIST_NODE_DEVICES_CAP_DRM: 4096,
  VIR_CONNECT_LIST_NODE_DEVICES_CAP_MDEV_TYPES: 8192,
  VIR_CONNECT_LIST_NODE_DEVICES_CAP_MDEV: 16384,
  VIR_CONNECT_LIST_NODE_DEVICES_CAP_CCW_DEV: 32768,
  VIR_CONNECT_LIST_NODE_DEVICES_CAP_CSS_DEV: 65536,
  VIR_CONNECT_LIST_NODE_DEVICES_CAP_VDPA: 131072,
  VIR_CONNECT_LIST_NODE_DEVICES_CAP_AP_CARD: 262144,
  VIR_CONNECT_LIST_NODE_DEVICES_CAP_AP_QUEUE: 524288,
  VIR_CONNECT_LIST_NODE_DEVICES_CAP_AP_MATRIX: 1048576,
  VIR_CONNECT_LIST_NODE_DEVICES_CAP_VPD: 2097152,
  VIR_CONNECT_LIST_NODE_DEVICES_INACTIVE: 1073741824,
  VIR_CONNECT_LIST_NODE_DEVICES_ACTIVE: 2147483648,
} as const;
export type virConnectListAllNodeDeviceFlags =
  (typeof virConnectListAllNodeDeviceFlags)[keyof typeof virConnectListAllNodeDeviceFlags];

export const virConnectListAllSecretsFlags = {
  VIR_CONNECT_LIST_SECRETS_EPHEMERAL: 1,
  VIR_CONNECT_LIST_SECRETS_NO_EPHEMERAL: 2,
  VIR_CONNECT_LIST_SECRETS_PRIVATE: 4,
  VIR_CONNECT_LIST_SECRETS_NO_PRIVATE: 8,
} as const;
export type virConnectListAllSecretsFlags =
  (typeof virConnectListAllSecretsFlags)[keyof typeof virConnectListAllSecretsFlags];

export const virConnectListAllStoragePoolsFlags = {
  VIR_CONNECT_LIST_STORAGE_POOLS_INACTIVE: 1,
  VIR_CONNECT_LIST_STORAGE_POOLS_ACTIVE: 2,
  VIR_CONNECT_LIST_STORAGE_POOLS_PERSISTENT: 4,
  VIR_CONNECT_LIST_STORAGE_POOLS_TRANSIENT: 8,
  VIR_CONNECT_LIST_STORAGE_POOLS_AUTOSTART: 16,
  VIR_CONNECT_LIST_STORAGE_POOLS_NO_AUTOSTART: 32,
  VIR_CONNECT_LIST_STORAGE_POOLS_DIR: 64,
  VIR_CONNECT_LIST_STORAGE_POOLS_FS: 128,
  VIR_CONNECT_LIST_STORAGE_POOLS_NETFS: 256,
  VIR_CONNECT_LIST_STORAGE_POOLS_LOGICAL: 512,
  VIR_CONNECT_LIST_STORAGE_POOLS_DISK: 1024,
  VIR_CONNECT_LIST_STORAGE_POOLS_ISCSI: 2048,
  VIR_CONNECT_LIST_STORAGE_POOLS_SCSI: 4096,
  VIR_CONNECT_LIST_STORAGE_POOLS_MPATH: 8192,
  VIR_CONNECT_LIST_STORAGE_POOLS_RBD: 16384,
  VIR_CONNECT_LIST_STORAGE_POOLS_SHEEPDOG: 32768,
  VIR_CONNECT_LIST_STORAGE_POOLS_GLUSTER: 65536,
  VIR_CONNECT_LIST_STORAGE_POOLS_ZFS: 131072,
  VIR_CONNECT_LIST_STORAGE_POOLS_VSTORAGE: 262144,
  VIR_CONNECT_LIST_STORAGE_POOLS_ISCSI_DIRECT: 524288,
} as const;
export type virConnectListAllStoragePoolsFlags =
  (typeof virConnectListAllStoragePoolsFlags)[keyof typeof virConnectListAllStoragePoolsFlags];

export const virDomainAbortJobFlagsValues = {
  VIR_DOMAIN_ABORT_JOB_POSTCOPY: 1,
} as const;
export type virDomainAbortJobFlagsValues =
  (typeof virDomainAbortJobFlagsValues)[keyof typeof virDomainAbortJobFlagsValues];

export const virDomainAgentResponseTimeoutValues = {
  VIR_DOMAIN_AGENT_RESPONSE_TIMEOUT_BLOCK: -2,
  VIR_DOMAIN_AGENT_RESPONSE_TIMEOUT_DEFAULT: -1,
  VIR_DOMAIN_AGENT_RESPONSE_TIMEOUT_NOWAIT: 0,
} as const;
export type virDomainAgentResponseTimeoutValues =
  (typeof virDomainAgentResponseTimeoutValues)[keyof typeof virDomainAgentResponseTimeoutValues];

export const virDomainAuthorizedSSHKeysSetFlags = {
  VIR_DOMAIN_AUTHORIZED_SSH_KEYS_SET_APPEND: 1,
  VIR_DOMAIN_AUTHORIZED_SSH_KEYS_SET_REMOVE: 2,
} as const;
export type virDomainAuthorizedSSHKeysSetFlags =
  (typeof virDomainAuthorizedSSHKeysSetFlags)[keyof typeof virDomainAuthorizedSSHKeysSetFlags];

export const virDomainBackupBeginFlags = {
  VIR_DOMAIN_BACKUP_BEGIN_REUSE_EXTERNAL: 1,
} as const;
export type virDomainBackupBeginFlags =
  (typeof virDomainBackupBeginFlags)[keyof typeof virDomainBackupBeginFlags];

export const virDomainBlockCommitFlags = {
  VIR_DOMAIN_BLOCK_COMMIT_SHALLOW: 1,
  VIR_DOMAIN_BLOCK_COMMIT_DELETE: 2,
  VIR_DOMAIN_BLOCK_COMMIT_ACTIVE: 4,
  VIR_DOMAIN_BLOCK_COMMIT_RELATIVE: 8,
  VIR_DOMAIN_BLOCK_COMMIT_BANDWIDTH_BYTES: 16,
} as const;
export type virDomainBlockCommitFlags =
  (typeof virDomainBlockCommitFlags)[keyof typeof virDomainBlockCommitFlags];

export const virDomainBlockCopyFlags = {
  VIR_DOMAIN_BLOCK_COPY_SHALLOW: 1,
  VIR_DOMAIN_BLOCK_COPY_REUSE_EXT: 2,
  VIR_DOMAIN_BLOCK_COPY_TRANSIENT_JOB: 4,
  VIR_DOMAIN_BLOCK_COPY_SYNCHRONOUS_WRITES: 8,
} as const;
export type virDomainBlockCopyFlags = (typeof virDomainBlockCopyFlags)[keyof typeof virDomainBlockCopyFlags];

export const virDomainBlockJobAbortFlags = {
  VIR_DOMAIN_BLOCK_JOB_ABORT_ASYNC: 1,
  VIR_DOMAIN_BLOCK_JOB_ABORT_PIVOT: 2,
} as const;
export type virDomainBlockJobAbortFlags =
  (typeof virDomainBlockJobAbortFlags)[keyof typeof virDomainBlockJobAbortFlags];

export const virDomainBlockJobInfoFlags = {
  VIR_DOMAIN_BLOCK_JOB_INFO_BANDWIDTH_BYTES: 1,
} as const;
export type virDomainBlockJobInfoFlags =
  (typeof virDomainBlockJobInfoFlags)[keyof typeof virDomainBlockJobInfoFlags];

export const virDomainBlockJobSetSpeedFlags = {
  VIR_DOMAIN_BLOCK_JOB_SPEED_BANDWIDTH_BYTES: 1,
} as const;
export type virDomainBlockJobSetSpeedFlags =
  (typeof virDomainBlockJobSetSpeedFlags)[keyof typeof virDomainBlockJobSetSpeedFlags];

export const virDomainBlockJobType = {
  VIR_DOMAIN_BLOCK_JOB_TYPE_UNKNOWN: 0,
  VIR_DOMAIN_BLOCK_JOB_TYPE_PULL: 1,
  VIR_DOMAIN_BLOCK_JOB_TYPE_COPY: 2,
  VIR_DOMAIN_BLOCK_JOB_TYPE_COMMIT: 3,
  VIR_DOMAIN_BLOCK_JOB_TYPE_ACTIVE_COMMIT: 4,
  VIR_DOMAIN_BLOCK_JOB_TYPE_BACKUP: 5,
  VIR_DOMAIN_BLOCK_JOB_TYPE_LAST: 6,
} as const;
export type virDomainBlockJobType = (typeof virDomainBlockJobType)[keyof typeof virDomainBlockJobType];

export const virDomainBlockPullFlags = {
  VIR_DOMAIN_BLOCK_PULL_BANDWIDTH_BYTES: 64,
} as const;
export type virDomainBlockPullFlags = (typeof virDomainBlockPullFlags)[keyof typeof virDomainBlockPullFlags];

export const virDomainBlockRebaseFlags = {
  VIR_DOMAIN_BLOCK_REBASE_SHALLOW: 1,
  VIR_DOMAIN_BLOCK_REBASE_REUSE_EXT: 2,
  VIR_DOMAIN_BLOCK_REBASE_COPY_RAW: 4,
  VIR_DOMAIN_BLOCK_REBASE_COPY: 8,
  VIR_DOMAIN_BLOCK_REBASE_RELATIVE: 16,
  VIR_DOMAIN_BLOCK_REBASE_COPY_DEV: 32,
  VIR_DOMAIN_BLOCK_REBASE_BANDWIDTH_BYTES: 64,
} as const;
export type virDomainBlockRebaseFlags =
  (typeof virDomainBlockRebaseFlags)[keyof typeof virDomainBlockRebaseFlags];

export const virDomainBlockResizeFlags = {
  VIR_DOMAIN_BLOCK_RESIZE_BYTES: 1,
} as const;
export type virDomainBlockResizeFlags =
  (typeof virDomainBlockResizeFlags)[keyof typeof virDomainBlockResizeFlags];

export const virDomainBlockedReason = {
  VIR_DOMAIN_BLOCKED_UNKNOWN: 0,
  VIR_DOMAIN_BLOCKED_LAST: 1,
} as const;
export type virDomainBlockedReason = (typeof virDomainBlockedReason)[keyof typeof virDomainBlockedReason];

export const virDomainChannelFlags = {
  VIR_DOMAIN_CHANNEL_FORCE: 1,
} as const;
export type virDomainChannelFlags = (typeof virDomainChannelFlags)[keyof typeof virDomainChannelFlags];

export const virDomainCheckpointCreateFlags = {
  VIR_DOMAIN_CHECKPOINT_CREATE_REDEFINE: 1,
  VIR_DOMAIN_CHECKPOINT_CREATE_QUIESCE: 2,
  VIR_DOMAIN_CHECKPOINT_CREATE_REDEFINE_VALIDATE: 4,
} as const;
export type virDomainCheckpointCreateFlags =
  (typeof virDomainCheckpointCreateFlags)[keyof typeof virDomainCheckpointCreateFlags];

export const virDomainCheckpointDeleteFlags = {
  VIR_DOMAIN_CHECKPOINT_DELETE_CHILDREN: 1,
  VIR_DOMAIN_CHECKPOINT_DELETE_METADATA_ONLY: 2,
  VIR_DOMAIN_CHECKPOINT_DELETE_CHILDREN_ONLY: 4,
} as const;
export type virDomainCheckpointDeleteFlags =
  (typeof virDomainCheckpointDeleteFlags)[keyof typeof virDomainCheckpointDeleteFlags];

export const virDomainCheckpointListFlags = {
  VIR_DOMAIN_CHECKPOINT_LIST_DESCENDANTS: 1,
  VIR_DOMAIN_CHECKPOINT_LIST_ROOTS: 1,
  VIR_DOMAIN_CHECKPOINT_LIST_TOPOLOGICAL: 2,
  VIR_DOMAIN_CHECKPOINT_LIST_LEAVES: 4,
  VIR_DOMAIN_CHECKPOINT_LIST_NO_LEAVES: 8,
} as const;
export type virDomainCheckpointListFlags =
  (typeof virDomainCheckpointListFlags)[keyof typeof virDomainCheckpointListFlags];

export const virDomainCheckpointXMLFlags = {
  VIR_DOMAIN_CHECKPOINT_XML_SECURE: 1,
  VIR_DOMAIN_CHECKPOINT_XML_NO_DOMAIN: 2,
  VIR_DOMAIN_CHECKPOINT_XML_SIZE: 4,
} as const;
export type virDomainCheckpointXMLFlags =
  (typeof virDomainCheckpointXMLFlags)[keyof typeof virDomainCheckpointXMLFlags];

export const virDomainConsoleFlags = {
  VIR_DOMAIN_CONSOLE_FORCE: 1,
  VIR_DOMAIN_CONSOLE_SAFE: 2,
} as const;
export type virDomainConsoleFlags = (typeof virDomainConsoleFlags)[keyof typeof virDomainConsoleFlags];

export const virDomainControlErrorReason = {
  VIR_DOMAIN_CONTROL_ERROR_REASON_NONE: 0,
  VIR_DOMAIN_CONTROL_ERROR_REASON_UNKNOWN: 1,
  VIR_DOMAIN_CONTROL_ERROR_REASON_MONITOR: 2,
  VIR_DOMAIN_CONTROL_ERROR_REASON_INTERNAL: 3,
  VIR_DOMAIN_CONTROL_ERROR_REASON_LAST: 4,
} as const;
export type virDomainControlErrorReason =
  (typeof virDomainControlErrorReason)[keyof typeof virDomainControlErrorReason];

export const virDomainControlState = {
  VIR_DOMAIN_CONTROL_OK: 0,
  VIR_DOMAIN_CONTROL_JOB: 1,
  VIR_DOMAIN_CONTROL_OCCUPIED: 2,
  VIR_DOMAIN_CONTROL_ERROR: 3,
  VIR_DOMAIN_CONTROL_LAST: 4,
} as const;
export type virDomainControlState = (typeof virDomainControlState)[keyof typeof virDomainControlState];

export const virDomainCoreDumpFlags = {
  VIR_DUMP_CRASH: 1,
  VIR_DUMP_LIVE: 2,
  VIR_DUMP_BYPASS_CACHE: 4,
  VIR_DUMP_RESET: 8,
  VIR_DUMP_MEMORY_ONLY: 16,
} as const;
export type virDomainCoreDumpFlags = (typeof virDomainCoreDumpFlags)[keyof typeof virDomainCoreDumpFlags];

export const virDomainCoreDumpFormat = {
  VIR_DOMAIN_CORE_DUMP_FORMAT_RAW: 0,
  VIR_DOMAIN_CORE_DUMP_FORMAT_KDUMP_ZLIB: 1,
  VIR_DOMAIN_CORE_DUMP_FORMAT_KDUMP_LZO: 2,
  VIR_DOMAIN_CORE_DUMP_FORMAT_KDUMP_SNAPPY: 3,
  VIR_DOMAIN_CORE_DUMP_FORMAT_WIN_DMP: 4,
  VIR_DOMAIN_CORE_DUMP_FORMAT_LAST: 5,
} as const;
export type virDomainCoreDumpFormat = (typeof virDomainCoreDumpFormat)[keyof typeof virDomainCoreDumpFormat];

export const virDomainCrashedReason = {
  VIR_DOMAIN_CRASHED_UNKNOWN: 0,
  VIR_DOMAIN_CRASHED_PANICKED: 1,
  VIR_DOMAIN_CRASHED_LAST: 2,
} as const;
export type virDomainCrashedReason = (typeof virDomainCrashedReason)[keyof typeof virDomainCrashedReason];

export const virDomainCreateFlags = {
  VIR_DOMAIN_NONE: 0,
  VIR_DOMAIN_START_PAUSED: 1,
  VIR_DOMAIN_START_AUTODESTROY: 2,
  VIR_DOMAIN_START_BYPASS_CACHE: 4,
  VIR_DOMAIN_START_FORCE_BOOT: 8,
  VIR_DOMAIN_START_VALIDATE: 16,
  VIR_DOMAIN_START_RESET_NVRAM: 32,
} as const;
export type virDomainCreateFlags = (typeof virDomainCreateFlags)[keyof typeof virDomainCreateFlags];

export const virDomainDefineFlags = {
  VIR_DOMAIN_DEFINE_VALIDATE: 1,
} as const;
export type virDomainDefineFlags = (typeof virDomainDefineFlags)[keyof typeof virDomainDefineFlags];

export const virDomainDestroyFlagsValues = {
  VIR_DOMAIN_DESTROY_DEFAULT: 0,
  VIR_DOMAIN_DESTROY_GRACEFUL: 1,
  VIR_DOMAIN_DESTROY_REMOVE_LOGS: 2,
} as const;
export type virDomainDestroyFlagsValues =
  (typeof virDomainDestroyFlagsValues)[keyof typeof virDomainDestroyFlagsValues];

export const virDomainDeviceModifyFlags = {
  VIR_DOMAIN_DEVICE_MODIFY_CURRENT: 0,
  VIR_DOMAIN_DEVICE_MODIFY_LIVE: 1,
  VIR_DOMAIN_DEVICE_MODIFY_CONFIG: 2,
  VIR_DOMAIN_DEVICE_MODIFY_FORCE: 4,
} as const;
export type virDomainDeviceModifyFlags =
  (typeof virDomainDeviceModifyFlags)[keyof typeof virDomainDeviceModifyFlags];

export const virDomainDirtyRateCalcFlags = {
  VIR_DOMAIN_DIRTYRATE_MODE_PAGE_SAMPLING: 0,
  VIR_DOMAIN_DIRTYRATE_MODE_DIRTY_BITMAP: 1,
  VIR_DOMAIN_DIRTYRATE_MODE_DIRTY_RING: 2,
} as const;
export type virDomainDirtyRateCalcFlags =
  (typeof virDomainDirtyRateCalcFlags)[keyof typeof virDomainDirtyRateCalcFlags];

export const virDomainDirtyRateStatus = {
  VIR_DOMAIN_DIRTYRATE_UNSTARTED: 0,
  VIR_DOMAIN_DIRTYRATE_MEASURING: 1,
  VIR_DOMAIN_DIRTYRATE_MEASURED: 2,
  VIR_DOMAIN_DIRTYRATE_LAST: 3,
} as const;
export type virDomainDirtyRateStatus =
  (typeof virDomainDirtyRateStatus)[keyof typeof virDomainDirtyRateStatus];

export const virDomainDiskErrorCode = {
  VIR_DOMAIN_DISK_ERROR_NONE: 0,
  VIR_DOMAIN_DISK_ERROR_UNSPEC: 1,
  VIR_DOMAIN_DISK_ERROR_NO_SPACE: 2,
  VIR_DOMAIN_DISK_ERROR_LAST: 3,
} as const;
export type virDomainDiskErrorCode = (typeof virDomainDiskErrorCode)[keyof typeof virDomainDiskErrorCode];

export const virDomainEventCrashedDetailType = {
  VIR_DOMAIN_EVENT_CRASHED_PANICKED: 0,
  VIR_DOMAIN_EVENT_CRASHED_CRASHLOADED: 1,
  VIR_DOMAIN_EVENT_CRASHED_LAST: 2,
} as const;
export type virDomainEventCrashedDetailType =
  (typeof virDomainEventCrashedDetailType)[keyof typeof virDomainEventCrashedDetailType];

export const virDomainEventDefinedDetailType = {
  VIR_DOMAIN_EVENT_DEFINED_ADDED: 0,
  VIR_DOMAIN_EVENT_DEFINED_UPDATED: 1,
  VIR_DOMAIN_EVENT_DEFINED_RENAMED: 2,
  VIR_DOMAIN_EVENT_DEFINED_FROM_SNAPSHOT: 3,
  VIR_DOMAIN_EVENT_DEFINED_LAST: 4,
} as const;
export type virDomainEventDefinedDetailType =
  (typeof virDomainEventDefinedDetailType)[keyof typeof virDomainEventDefinedDetailType];

export const virDomainEventGraphicsAddressType = {
  VIR_DOMAIN_EVENT_GRAPHICS_ADDRESS_IPV4: 0,
  VIR_DOMAIN_EVENT_GRAPHICS_ADDRESS_IPV6: 1,
  VIR_DOMAIN_EVENT_GRAPHICS_ADDRESS_UNIX: 2,
  VIR_DOMAIN_EVENT_GRAPHICS_ADDRESS_LAST: 3,
} as const;
export type virDomainEventGraphicsAddressType =
  (typeof virDomainEventGraphicsAddressType)[keyof typeof virDomainEventGraphicsAddressType];

export const virDomainEventGraphicsPhase = {
  VIR_DOMAIN_EVENT_GRAPHICS_CONNECT: 0,
  VIR_DOMAIN_EVENT_GRAPHICS_INITIALIZE: 1,
  VIR_DOMAIN_EVENT_GRAPHICS_DISCONNECT: 2,
  VIR_DOMAIN_EVENT_GRAPHICS_LAST: 3,
} as const;
export type virDomainEventGraphicsPhase =
  (typeof virDomainEventGraphicsPhase)[keyof typeof virDomainEventGraphicsPhase];

export const virDomainEventID = {
  VIR_DOMAIN_EVENT_ID_LIFECYCLE: 0,
  VIR_DOMAIN_EVENT_ID_REBOOT: 1,
  VIR_DOMAIN_EVENT_ID_RTC_CHANGE: 2,
  VIR_DOMAIN_EVENT_ID_WATCHDOG: 3,
  VIR_DOMAIN_EVENT_ID_IO_ERROR: 4,
  VIR_DOMAIN_EVENT_ID_GRAPHICS: 5,
  VIR_DOMAIN_EVENT_ID_IO_ERROR_REASON: 6,
  VIR_DOMAIN_EVENT_ID_CONTROL_ERROR: 7,
  VIR_DOMAIN_EVENT_ID_BLOCK_JOB: 8,
  VIR_DOMAIN_EVENT_ID_DISK_CHANGE: 9,
  VIR_DOMAIN_EVENT_ID_TRAY_CHANGE: 10,
  VIR_DOMAIN_EVENT_ID_PMWAKEUP: 11,
  VIR_DOMAIN_EVENT_ID_PMSUSPEND: 12,
  VIR_DOMAIN_EVENT_ID_BALLOON_CHANGE: 13,
  VIR_DOMAIN_EVENT_ID_PMSUSPEND_DISK: 14,
  VIR_DOMAIN_EVENT_ID_DEVICE_REMOVED: 15,
  VIR_DOMAIN_EVENT_ID_BLOCK_JOB_2: 16,
  VIR_DOMAIN_EVENT_ID_TUNABLE: 17,
  VIR_DOMAIN_EVENT_ID_AGENT_LIFECYCLE: 18,
  VIR_DOMAIN_EVENT_ID_DEVICE_ADDED: 19,
  VIR_DOMAIN_EVENT_ID_MIGRATION_ITERATION: 20,
  VIR_DOMAIN_EVENT_ID_JOB_COMPLETED: 21,
  VIR_DOMAIN_EVENT_ID_DEVICE_REMOVAL_FAILED: 22,
  VIR_DOMAIN_EVENT_ID_METADATA_CHANGE: 23,
  VIR_DOMAIN_EVENT_ID_BLOCK_THRESHOLD: 24,
  VIR_DOMAIN_EVENT_ID_MEMORY_FAILURE: 25,
  VIR_DOMAIN_EVENT_ID_MEMORY_DEVICE_SIZE_CHANGE: 26,
  VIR_DOMAIN_EVENT_ID_LAST: 27,
} as const;
export type virDomainEventID = (typeof virDomainEventID)[keyof typeof virDomainEventID];

export const virDomainEventIOErrorAction = {
  VIR_DOMAIN_EVENT_IO_ERROR_NONE: 0,
  VIR_DOMAIN_EVENT_IO_ERROR_PAUSE: 1,
  VIR_DOMAIN_EVENT_IO_ERROR_REPORT: 2,
  VIR_DOMAIN_EVENT_IO_ERROR_LAST: 3,
} as const;
export type virDomainEventIOErrorAction =
  (typeof virDomainEventIOErrorAction)[keyof typeof virDomainEventIOErrorAction];

export const virDomainEventPMSuspendedDetailType = {
  VIR_DOMAIN_EVENT_PMSUSPENDED_MEMORY: 0,
  VIR_DOMAIN_EVENT_PMSUSPENDED_DISK: 1,
  VIR_DOMAIN_EVENT_PMSUSPENDED_LAST: 2,
} as const;
export type virDomainEventPMSuspendedDetailType =
  (typeof virDomainEventPMSuspendedDetailType)[keyof typeof virDomainEventPMSuspendedDetailType];

export const virDomainEventResumedDetailType = {
  VIR_DOMAIN_EVENT_RESUMED_UNPAUSED: 0,
  VIR_DOMAIN_EVENT_RESUMED_MIGRATED: 1,
  VIR_DOMAIN_EVENT_RESUMED_FROM_SNAPSHOT: 2,
  VIR_DOMAIN_EVENT_RESUMED_POSTCOPY: 3,
  VIR_DOMAIN_EVENT_RESUMED_POSTCOPY_FAILED: 4,
  VIR_DOMAIN_EVENT_RESUMED_LAST: 5,
} as const;
export type virDomainEventResumedDetailType =
  (typeof virDomainEventResumedDetailType)[keyof typeof virDomainEventResumedDetailType];

export const virDomainEventShutdownDetailType = {
  VIR_DOMAIN_EVENT_SHUTDOWN_FINISHED: 0,
  VIR_DOMAIN_EVENT_SHUTDOWN_GUEST: 1,
  VIR_DOMAIN_EVENT_SHUTDOWN_HOST: 2,
  VIR_DOMAIN_EVENT_SHUTDOWN_LAST: 3,
} as const;
export type virDomainEventShutdownDetailType =
  (typeof virDomainEventShutdownDetailType)[keyof typeof virDomainEventShutdownDetailType];

export const virDomainEventStartedDetailType = {
  VIR_DOMAIN_EVENT_STARTED_BOOTED: 0,
  VIR_DOMAIN_EVENT_STARTED_MIGRATED: 1,
  VIR_DOMAIN_EVENT_STARTED_RESTORED: 2,
  VIR_DOMAIN_EVENT_STARTED_FROM_SNAPSHOT: 3,
  VIR_DOMAIN_EVENT_STARTED_WAKEUP: 4,
  VIR_DOMAIN_EVENT_STARTED_LAST: 5,
} as const;
export type virDomainEventStartedDetailType =
  (typeof virDomainEventStartedDetailType)[keyof typeof virDomainEventStartedDetailType];

export const virDomainEventStoppedDetailType = {
  VIR_DOMAIN_EVENT_STOPPED_SHUTDOWN: 0,
  VIR_DOMAIN_EVENT_STOPPED_DESTROYED: 1,
  VIR_DOMAIN_EVENT_STOPPED_CRASHED: 2,
  VIR_DOMAIN_EVENT_STOPPED_MIGRATED: 3,
  VIR_DOMAIN_EVENT_STOPPED_SAVED: 4,
  VIR_DOMAIN_EVENT_STOPPED_FAILED: 5,
  VIR_DOMAIN_EVENT_STOPPED_FROM_SNAPSHOT: 6,
  VIR_DOMAIN_EVENT_STOPPED_LAST: 7,
} as const;
export type virDomainEventStoppedDetailType =
  (typeof virDomainEventStoppedDetailType)[keyof typeof virDomainEventStoppedDetailType];

export const virDomainEventSuspendedDetailType = {
  VIR_DOMAIN_EVENT_SUSPENDED_PAUSED: 0,
  VIR_DOMAIN_EVENT_SUSPENDED_MIGRATED: 1,
  VIR_DOMAIN_EVENT_SUSPENDED_IOERROR: 2,
  VIR_DOMAIN_EVENT_SUSPENDED_WATCHDOG: 3,
  VIR_DOMAIN_EVENT_SUSPENDED_RESTORED: 4,
  VIR_DOMAIN_EVENT_SUSPENDED_FROM_SNAPSHOT: 5,
  VIR_DOMAIN_EVENT_SUSPENDED_API_ERROR: 6,
  VIR_DOMAIN_EVENT_SUSPENDED_POSTCOPY: 7,
  VIR_DOMAIN_EVENT_SUSPENDED_POSTCOPY_FAILED: 8,
  VIR_DOMAIN_EVENT_SUSPENDED_LAST: 9,
} as const;
export type virDomainEventSuspendedDetailType =
  (typeof virDomainEventSuspendedDetailType)[keyof typeof virDomainEventSuspendedDetailType];

export const virDomainEventTrayChangeReason = {
  VIR_DOMAIN_EVENT_TRAY_CHANGE_OPEN: 0,
  VIR_DOMAIN_EVENT_TRAY_CHANGE_CLOSE: 1,
  VIR_DOMAIN_EVENT_TRAY_CHANGE_LAST: 2,
} as const;
export type virDomainEventTrayChangeReason =
  (typeof virDomainEventTrayChangeReason)[keyof typeof virDomainEventTrayChangeReason];

export const virDomainEventType = {
  VIR_DOMAIN_EVENT_DEFINED: 0,
  VIR_DOMAIN_EVENT_UNDEFINED: 1,
  VIR_DOMAIN_EVENT_STARTED: 2,
  VIR_DOMAIN_EVENT_SUSPENDED: 3,
  VIR_DOMAIN_EVENT_RESUMED: 4,
  VIR_DOMAIN_EVENT_STOPPED: 5,
  VIR_DOMAIN_EVENT_SHUTDOWN: 6,
  VIR_DOMAIN_EVENT_PMSUSPENDED: 7,
  VIR_DOMAIN_EVENT_CRASHED: 8,
  VIR_DOMAIN_EVENT_LAST: 9,
} as const;
export type virDomainEventType = (typeof virDomainEventType)[keyof typeof virDomainEventType];

export const virDomainEventUndefinedDetailType = {
  VIR_DOMAIN_EVENT_UNDEFINED_REMOVED: 0,
  VIR_DOMAIN_EVENT_UNDEFINED_RENAMED: 1,
  VIR_DOMAIN_EVENT_UNDEFINED_LAST: 2,
} as const;
export type virDomainEventUndefinedDetailType =
  (typeof virDomainEventUndefinedDetailType)[keyof typeof virDomainEventUndefinedDetailType];

export const virDomainEventWatchdogAction = {
  VIR_DOMAIN_EVENT_WATCHDOG_NONE: 0,
  VIR_DOMAIN_EVENT_WATCHDOG_PAUSE: 1,
  VIR_DOMAIN_EVENT_WATCHDOG_RESET: 2,
  VIR_DOMAIN_EVENT_WATCHDOG_POWEROFF: 3,
  VIR_DOMAIN_EVENT_WATCHDOG_SHUTDOWN: 4,
  VIR_DOMAIN_EVENT_WATCHDOG_DEBUG: 5,
  VIR_DOMAIN_EVENT_WATCHDOG_INJECTNMI: 6,
  VIR_DOMAIN_EVENT_WATCHDOG_LAST: 7,
} as const;
export type virDomainEventWatchdogAction =
  (typeof virDomainEventWatchdogAction)[keyof typeof virDomainEventWatchdogAction];

export const virDomainFDAssociateFlags = {
  VIR_DOMAIN_FD_ASSOCIATE_SECLABEL_RESTORE: 1,
  VIR_DOMAIN_FD_ASSOCIATE_SECLABEL_WRITABLE: 2,
} as const;
export type virDomainFDAssociateFlags =
  (typeof virDomainFDAssociateFlags)[keyof typeof virDomainFDAssociateFlags];

export const virDomainGetHostnameFlags = {
  VIR_DOMAIN_GET_HOSTNAME_LEASE: 1,
  VIR_DOMAIN_GET_HOSTNAME_AGENT: 2,
} as const;
export type virDomainGetHostnameFlags =
  (typeof virDomainGetHostnameFlags)[keyof typeof virDomainGetHostnameFlags];

export const virDomainGetJobStatsFlags = {
  VIR_DOMAIN_JOB_STATS_COMPLETED: 1,
  VIR_DOMAIN_JOB_STATS_KEEP_COMPLETED: 2,
} as const;
export type virDomainGetJobStatsFlags =
  (typeof virDomainGetJobStatsFlags)[keyof typeof virDomainGetJobStatsFlags];

export const virDomainGuestInfoTypes = {
  VIR_DOMAIN_GUEST_INFO_USERS: 1,
  VIR_DOMAIN_GUEST_INFO_OS: 2,
  VIR_DOMAIN_GUEST_INFO_TIMEZONE: 4,
  VIR_DOMAIN_GUEST_INFO_HOSTNAME: 8,
  VIR_DOMAIN_GUEST_INFO_FILESYSTEM: 16,
  VIR_DOMAIN_GUEST_INFO_DISKS: 32,
  VIR_DOMAIN_GUEST_INFO_INTERFACES: 64,
} as const;
export type virDomainGuestInfoTypes = (typeof virDomainGuestInfoTypes)[keyof typeof virDomainGuestInfoTypes];

export const virDomainInterfaceAddressesSource = {
  VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_LEASE: 0,
  VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_AGENT: 1,
  VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_ARP: 2,
  VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_LAST: 3,
} as const;
export type virDomainInterfaceAddressesSource =
  (typeof virDomainInterfaceAddressesSource)[keyof typeof virDomainInterfaceAddressesSource];

export const virDomainJobOperation = {
  VIR_DOMAIN_JOB_OPERATION_UNKNOWN: 0,
  VIR_DOMAIN_JOB_OPERATION_START: 1,
  VIR_DOMAIN_JOB_OPERATION_SAVE: 2,
  VIR_DOMAIN_JOB_OPERATION_RESTORE: 3,
  VIR_DOMAIN_JOB_OPERATION_MIGRATION_IN: 4,
  VIR_DOMAIN_JOB_OPERATION_MIGRATION_OUT: 5,
  VIR_DOMAIN_JOB_OPERATION_SNAPSHOT: 6,
  VIR_DOMAIN_JOB_OPERATION_SNAPSHOT_REVERT: 7,
  VIR_DOMAIN_JOB_OPERATION_DUMP: 8,
  VIR_DOMAIN_JOB_OPERATION_BACKUP: 9,
  VIR_DOMAIN_JOB_OPERATION_SNAPSHOT_DELETE: 10,
  VIR_DOMAIN_JOB_OPERATION_LAST: 11,
} as const;
export type virDomainJobOperation = (typeof virDomainJobOperation)[keyof typeof virDomainJobOperation];

export const virDomainJobType = {
  VIR_DOMAIN_JOB_NONE: 0,
  VIR_DOMAIN_JOB_BOUNDED: 1,
  VIR_DOMAIN_JOB_UNBOUNDED: 2,
  VIR_DOMAIN_JOB_COMPLETED: 3,
  VIR_DOMAIN_JOB_FAILED: 4,
  VIR_DOMAIN_JOB_CANCELLED: 5,
  VIR_DOMAIN_JOB_LAST: 6,
} as const;
export type virDomainJobType = (typeof virDomainJobType)[keyof typeof virDomainJobType];

export const virDomainLifecycle = {
  VIR_DOMAIN_LIFECYCLE_POWEROFF: 0,
  VIR_DOMAIN_LIFECYCLE_REBOOT: 1,
  VIR_DOMAIN_LIFECYCLE_CRASH: 2,
  VIR_DOMAIN_LIFECYCLE_LAST: 3,
} as const;
export type virDomainLifecycle = (typeof virDomainLifecycle)[keyof typeof virDomainLifecycle];

export const virDomainLifecycleAction = {
  VIR_DOMAIN_LIFECYCLE_ACTION_DESTROY: 0,
  VIR_DOMAIN_LIFECYCLE_ACTION_RESTART: 1,
  VIR_DOMAIN_LIFECYCLE_ACTION_RESTART_RENAME: 2,
  VIR_DOMAIN_LIFECYCLE_ACTION_PRESERVE: 3,
  VIR_DOMAIN_LIFECYCLE_ACTION_COREDUMP_DESTROY: 4,
  VIR_DOMAIN_LIFECYCLE_ACTION_COREDUMP_RESTART: 5,
  VIR_DOMAIN_LIFECYCLE_ACTION_LAST: 6,
} as const;
export type virDomainLifecycleAction =
  (typeof virDomainLifecycleAction)[keyof typeof virDomainLifecycleAction];

export const virDomainMemoryFailureActionType = {
  VIR_DOMAIN_EVENT_MEMORY_FAILURE_ACTION_IGNORE: 0,
  VIR_DOMAIN_EVENT_MEMORY_FAILURE_ACTION_INJECT: 1,
  VIR_DOMAIN_EVENT_MEMORY_FAILURE_ACTION_FATAL: 2,
  VIR_DOMAIN_EVENT_MEMORY_FAILURE_ACTION_RESET: 3,
  VIR_DOMAIN_EVENT_MEMORY_FAILURE_ACTION_LAST: 4,
} as const;
export type virDomainMemoryFailureActionType =
  (typeof virDomainMemoryFailureActionType)[keyof typeof virDomainMemoryFailureActionType];

export const virDomainMemoryFailureFlags = {
  VIR_DOMAIN_MEMORY_FAILURE_ACTION_REQUIRED: 1,
  VIR_DOMAIN_MEMORY_FAILURE_RECURSIVE: 2,
} as const;
export type virDomainMemoryFailureFlags =
  (typeof virDomainMemoryFailureFlags)[keyof typeof virDomainMemoryFailureFlags];

export const virDomainMemoryFailureRecipientType = {
  VIR_DOMAIN_EVENT_MEMORY_FAILURE_RECIPIENT_HYPERVISOR: 0,
  VIR_DOMAIN_EVENT_MEMORY_FAILURE_RECIPIENT_GUEST: 1,
  VIR_DOMAIN_EVENT_MEMORY_FAILURE_RECIPIENT_LAST: 2,
} as const;
export type virDomainMemoryFailureRecipientType =
  (typeof virDomainMemoryFailureRecipientType)[keyof typeof virDomainMemoryFailureRecipientType];

export const virDomainMemoryFlags = {
  VIR_MEMORY_VIRTUAL: 1,
  VIR_MEMORY_PHYSICAL: 2,
} as const;
export type virDomainMemoryFlags = (typeof virDomainMemoryFlags)[keyof typeof virDomainMemoryFlags];

export const virDomainMemoryModFlags = {
  VIR_DOMAIN_MEM_CURRENT: 0,
  VIR_DOMAIN_MEM_LIVE: 1,
  VIR_DOMAIN_MEM_CONFIG: 2,
  VIR_DOMAIN_MEM_MAXIMUM: 4,
} as const;
export type virDomainMemoryModFlags = (typeof virDomainMemoryModFlags)[keyof typeof virDomainMemoryModFlags];

export const virDomainMemoryStatTags = {
  VIR_DOMAIN_MEMORY_STAT_SWAP_IN: 0,
  VIR_DOMAIN_MEMORY_STAT_SWAP_OUT: 1,
  VIR_DOMAIN_MEMORY_STAT_MAJOR_FAULT: 2,
  VIR_DOMAIN_MEMORY_STAT_MINOR_FAULT: 3,
  VIR_DOMAIN_MEMORY_STAT_UNUSED: 4,
  VIR_DOMAIN_MEMORY_STAT_AVAILABLE: 5,
  VIR_DOMAIN_MEMORY_STAT_ACTUAL_BALLOON: 6,
  VIR_DOMAIN_MEMORY_STAT_RSS: 7,
  VIR_DOMAIN_MEMORY_STAT_USABLE: 8,
  VIR_DOMAIN_MEMORY_STAT_LAST_UPDATE: 9,
  VIR_DOMAIN_MEMORY_STAT_DISK_CACHES: 10,
  VIR_DOMAIN_MEMORY_STAT_HUGETLB_PGALLOC: 11,
  VIR_DOMAIN_MEMORY_STAT_HUGETLB_PGFAIL: 12,
  VIR_DOMAIN_MEMORY_STAT_LAST: 13,
  VIR_DOMAIN_MEMORY_STAT_NR: 13,
} as const;
export type virDomainMemoryStatTags = (typeof virDomainMemoryStatTags)[keyof typeof virDomainMemoryStatTags];

export const virDomainMessageType = {
  VIR_DOMAIN_MESSAGE_DEPRECATION: 1,
  VIR_DOMAIN_MESSAGE_TAINTING: 2,
} as const;
export type virDomainMessageType = (typeof virDomainMessageType)[keyof typeof virDomainMessageType];

export const virDomainMetadataType = {
  VIR_DOMAIN_METADATA_DESCRIPTION: 0,
  VIR_DOMAIN_METADATA_TITLE: 1,
  VIR_DOMAIN_METADATA_ELEMENT: 2,
  VIR_DOMAIN_METADATA_LAST: 3,
} as const;
export type virDomainMetadataType = (typeof virDomainMetadataType)[keyof typeof virDomainMetadataType];

export const virDomainMigrateFlags = {
  VIR_MIGRATE_LIVE: 1,
  VIR_MIGRATE_PEER2PEER: 2,
  VIR_MIGRATE_TUNNELLED: 4,
  VIR_MIGRATE_PERSIST_DEST: 8,
  VIR_MIGRATE_UNDEFINE_SOURCE: 16,
  VIR_MIGRATE_PAUSED: 32,
  VIR_MIGRATE_NON_SHARED_DISK: 64,
  VIR_MIGRATE_NON_SHARED_INC: 128,
  VIR_MIGRATE_CHANGE_PROTECTION: 256,
  VIR_MIGRATE_UNSAFE: 512,
  VIR_MIGRATE_OFFLINE: 1024,
  VIR_MIGRATE_COMPRESSED: 2048,
  VIR_MIGRATE_ABORT_ON_ERROR: 4096,
  VIR_MIGRATE_AUTO_CONVERGE: 8192,
  VIR_MIGRATE_RDMA_PIN_ALL: 16384,
  VIR_MIGRATE_POSTCOPY: 32768,
  VIR_MIGRATE_TLS: 65536,
  VIR_MIGRATE_PARALLEL: 131072,
  VIR_MIGRATE_NON_SHARED_SYNCHRONOUS_WRITES: 262144,
  VIR_MIGRATE_POSTCOPY_RESUME: 524288,
  VIR_MIGRATE_ZEROCOPY: 1048576,
} as const;
export type virDomainMigrateFlags = (typeof virDomainMigrateFlags)[keyof typeof virDomainMigrateFlags];

export const virDomainMigrateMaxSpeedFlags = {
  VIR_DOMAIN_MIGRATE_MAX_SPEED_POSTCOPY: 1,
} as const;
export type virDomainMigrateMaxSpeedFlags =
  (typeof virDomainMigrateMaxSpeedFlags)[keyof typeof virDomainMigrateMaxSpeedFlags];

export const virDomainModificationImpact = {
  VIR_DOMAIN_AFFECT_CURRENT: 0,
  VIR_DOMAIN_AFFECT_LIVE: 1,
  VIR_DOMAIN_AFFECT_CONFIG: 2,
} as const;
export type virDomainModificationImpact =
  (typeof virDomainModificationImpact)[keyof typeof virDomainModificationImpact];

export const virDomainNostateReason = {
  VIR_DOMAIN_NOSTATE_UNKNOWN: 0,
  VIR_DOMAIN_NOSTATE_LAST: 1,
} as const;
export type virDomainNostateReason = (typeof virDomainNostateReason)[keyof typeof virDomainNostateReason];

export const virDomainNumatuneMemMode = {
  VIR_DOMAIN_NUMATUNE_MEM_STRICT: 0,
  VIR_DOMAIN_NUMATUNE_MEM_PREFERRED: 1,
  VIR_DOMAIN_NUMATUNE_MEM_INTERLEAVE: 2,
  VIR_DOMAIN_NUMATUNE_MEM_RESTRICTIVE: 3,
  VIR_DOMAIN_NUMATUNE_MEM_LAST: 4,
} as const;
export type virDomainNumatuneMemMode =
  (typeof virDomainNumatuneMemMode)[keyof typeof virDomainNumatuneMemMode];

export const virDomainOpenGraphicsFlags = {
  VIR_DOMAIN_OPEN_GRAPHICS_SKIPAUTH: 1,
} as const;
export type virDomainOpenGraphicsFlags =
  (typeof virDomainOpenGraphicsFlags)[keyof typeof virDomainOpenGraphicsFlags];

export const virDomainPMSuspendedDiskReason = {
  VIR_DOMAIN_PMSUSPENDED_DISK_UNKNOWN: 0,
  VIR_DOMAIN_PMSUSPENDED_DISK_LAST: 1,
} as const;
export type virDomainPMSuspendedDiskReason =
  (typeof virDomainPMSuspendedDiskReason)[keyof typeof virDomainPMSuspendedDiskReason];

export const virDomainPMSuspendedReason = {
  VIR_DOMAIN_PMSUSPENDED_UNKNOWN: 0,
  VIR_DOMAIN_PMSUSPENDED_LAST: 1,
} as const;
export type virDomainPMSuspendedReason =
  (typeof virDomainPMSuspendedReason)[keyof typeof virDomainPMSuspendedReason];

export const virDomainPausedReason = {
  VIR_DOMAIN_PAUSED_UNKNOWN: 0,
  VIR_DOMAIN_PAUSED_USER: 1,
  VIR_DOMAIN_PAUSED_MIGRATION: 2,
  VIR_DOMAIN_PAUSED_SAVE: 3,
  VIR_DOMAIN_PAUSED_DUMP: 4,
  VIR_DOMAIN_PAUSED_IOERROR: 5,
  VIR_DOMAIN_PAUSED_WATCHDOG: 6,
  VIR_DOMAIN_PAUSED_FROM_SNAPSHOT: 7,
  VIR_DOMAIN_PAUSED_SHUTTING_DOWN: 8,
  VIR_DOMAIN_PAUSED_SNAPSHOT: 9,
  VIR_DOMAIN_PAUSED_CRASHED: 10,
  VIR_DOMAIN_PAUSED_STARTING_UP: 11,
  VIR_DOMAIN_PAUSED_POSTCOPY: 12,
  VIR_DOMAIN_PAUSED_POSTCOPY_FAILED: 13,
  VIR_DOMAIN_PAUSED_LAST: 14,
} as const;
export type virDomainPausedReason = (typeof virDomainPausedReason)[keyof typeof virDomainPausedReason];

export const virDomainProcessSignal = {
  VIR_DOMAIN_PROCESS_SIGNAL_NOP: 0,
  VIR_DOMAIN_PROCESS_SIGNAL_HUP: 1,
  VIR_DOMAIN_PROCESS_SIGNAL_INT: 2,
  VIR_DOMAIN_PROCESS_SIGNAL_QUIT: 3,
  VIR_DOMAIN_PROCESS_SIGNAL_ILL: 4,
  VIR_DOMAIN_PROCESS_SIGNAL_TRAP: 5,
  VIR_DOMAIN_PROCESS_SIGNAL_ABRT: 6,
  VIR_DOMAIN_PROCESS_SIGNAL_BUS: 7,
  VIR_DOMAIN_PROCESS_SIGNAL_FPE: 8,
  VIR_DOMAIN_PROCESS_SIGNAL_KILL: 9,
  VIR_DOMAIN_PROCESS_SIGNAL_USR1: 10,
  VIR_DOMAIN_PROCESS_SIGNAL_SEGV: 11,
  VIR_DOMAIN_PROCESS_SIGNAL_USR2: 12,
  VIR_DOMAIN_PROCESS_SIGNAL_PIPE: 13,
  VIR_DOMAIN_PROCESS_SIGNAL_ALRM: 14,
  VIR_DOMAIN_PROCESS_SIGNAL_TERM: 15,
  VIR_DOMAIN_PROCESS_SIGNAL_STKFLT: 16,
  VIR_DOMAIN_PROCESS_SIGNAL_CHLD: 17,
  VIR_DOMAIN_PROCESS_SIGNAL_CONT: 18,
  VIR_DOMAIN_PROCESS_SIGNAL_STOP: 19,
  VIR_DOMAIN_PROCESS_SIGNAL_TSTP: 20,
  VIR_DOMAIN_PROCESS_SIGNAL_TTIN: 21,
  VIR_DOMAIN_PROCESS_SIGNAL_TTOU: 22,
  VIR_DOMAIN_PROCESS_SIGNAL_URG: 23,
  VIR_DOMAIN_PROCESS_SIGNAL_XCPU: 24,
  VIR_DOMAIN_PROCESS_SIGNAL_XFSZ: 25,
  VIR_DOMAIN_PROCESS_SIGNAL_VTALRM: 26,
  VIR_DOMAIN_PROCESS_SIGNAL_PROF: 27,
  VIR_DOMAIN_PROCESS_SIGNAL_WINCH: 28,
  VIR_DOMAIN_PROCESS_SIGNAL_POLL: 29,
  VIR_DOMAIN_PROCESS_SIGNAL_PWR: 30,
  VIR_DOMAIN_PROCESS_SIGNAL_SYS: 31,
  VIR_DOMAIN_PROCESS_SIGNAL_RT0: 32,
  VIR_DOMAIN_PROCESS_SIGNAL_RT1: 33,
  VIR_DOMAIN_PROCESS_SIGNAL_RT2: 34,
  VIR_DOMAIN_PROCESS_SIGNAL_RT3: 35,
  VIR_DOMAIN_PROCESS_SIGNAL_RT4: 36,
  VIR_DOMAIN_PROCESS_SIGNAL_RT5: 37,
  VIR_DOMAIN_PROCESS_SIGNAL_RT6: 38,
  VIR_DOMAIN_PROCESS_SIGNAL_RT7: 39,
  VIR_DOMAIN_PROCESS_SIGNAL_RT8: 40,
  VIR_DOMAIN_PROCESS_SIGNAL_RT9: 41,
  VIR_DOMAIN_PROCESS_SIGNAL_RT10: 42,
  VIR_DOMAIN_PROCESS_SIGNAL_RT11: 43,
  VIR_DOMAIN_PROCESS_SIGNAL_RT12: 44,
  VIR_DOMAIN_PROCESS_SIGNAL_RT13: 45,
  VIR_DOMAIN_PROCESS_SIGNAL_RT14: 46,
  VIR_DOMAIN_PROCESS_SIGNAL_RT15: 47,
  VIR_DOMAIN_PROCESS_SIGNAL_RT16: 48,
  VIR_DOMAIN_PROCESS_SIGNAL_RT17: 49,
  VIR_DOMAIN_PROCESS_SIGNAL_RT18: 50,
  VIR_DOMAIN_PROCESS_SIGNAL_RT19: 51,
  VIR_DOMAIN_PROCESS_SIGNAL_RT20: 52,
  VIR_DOMAIN_PROCESS_SIGNAL_RT21: 53,
  VIR_DOMAIN_PROCESS_SIGNAL_RT22: 54,
  VIR_DOMAIN_PROCESS_SIGNAL_RT23: 55,
  VIR_DOMAIN_PROCESS_SIGNAL_RT24: 56,
  VIR_DOMAIN_PROCESS_SIGNAL_RT25: 57,
  VIR_DOMAIN_PROCESS_SIGNAL_RT26: 58,
  VIR_DOMAIN_PROCESS_SIGNAL_RT27: 59,
  VIR_DOMAIN_PROCESS_SIGNAL_RT28: 60,
  VIR_DOMAIN_PROCESS_SIGNAL_RT29: 61,
  VIR_DOMAIN_PROCESS_SIGNAL_RT30: 62,
  VIR_DOMAIN_PROCESS_SIGNAL_RT31: 63,
  VIR_DOMAIN_PROCESS_SIGNAL_RT32: 64,
  VIR_DOMAIN_PROCESS_SIGNAL_LAST: 65,
} as const;
export type virDomainProcessSignal = (typeof virDomainProcessSignal)[keyof typeof virDomainProcessSignal];

export const virDomainQemuAgentCommandTimeoutValues = {
  VIR_DOMAIN_QEMU_AGENT_COMMAND_BLOCK: -2,
  VIR_DOMAIN_QEMU_AGENT_COMMAND_MIN: -2,
  VIR_DOMAIN_QEMU_AGENT_COMMAND_DEFAULT: -1,
  VIR_DOMAIN_QEMU_AGENT_COMMAND_NOWAIT: 0,
  VIR_DOMAIN_QEMU_AGENT_COMMAND_SHUTDOWN: 60,
} as const;
export type virDomainQemuAgentCommandTimeoutValues =
  (typeof virDomainQemuAgentCommandTimeoutValues)[keyof typeof virDomainQemuAgentCommandTimeoutValues];

export const virDomainQemuMonitorCommandFlags = {
  VIR_DOMAIN_QEMU_MONITOR_COMMAND_DEFAULT: 0,
  VIR_DOMAIN_QEMU_MONITOR_COMMAND_HMP: 1,
} as const;
export type virDomainQemuMonitorCommandFlags =
  (typeof virDomainQemuMonitorCommandFlags)[keyof typeof virDomainQemuMonitorCommandFlags];

export const virDomainRebootFlagValues = {
  VIR_DOMAIN_REBOOT_DEFAULT: 0,
  VIR_DOMAIN_REBOOT_ACPI_POWER_BTN: 1,
  VIR_DOMAIN_REBOOT_GUEST_AGENT: 2,
  VIR_DOMAIN_REBOOT_INITCTL: 4,
  VIR_DOMAIN_REBOOT_SIGNAL: 8,
  VIR_DOMAIN_REBOOT_PARAVIRT: 16,
} as const;
export type virDomainRebootFlagValues =
  (typeof virDomainRebootFlagValues)[keyof typeof virDomainRebootFlagValues];

export const virDomainRunningReason = {
  VIR_DOMAIN_RUNNING_UNKNOWN: 0,
  VIR_DOMAIN_RUNNING_BOOTED: 1,
  VIR_DOMAIN_RUNNING_MIGRATED: 2,
  VIR_DOMAIN_RUNNING_RESTORED: 3,
  VIR_DOMAIN_RUNNING_FROM_SNAPSHOT: 4,
  VIR_DOMAIN_RUNNING_UNPAUSED: 5,
  VIR_DOMAIN_RUNNING_MIGRATION_CANCELED: 6,
  VIR_DOMAIN_RUNNING_SAVE_CANCELED: 7,
  VIR_DOMAIN_RUNNING_WAKEUP: 8,
  VIR_DOMAIN_RUNNING_CRASHED: 9,
  VIR_DOMAIN_RUNNING_POSTCOPY: 10,
  VIR_DOMAIN_RUNNING_POSTCOPY_FAILED: 11,
  VIR_DOMAIN_RUNNING_LAST: 12,
} as const;
export type virDomainRunningReason = (typeof virDomainRunningReason)[keyof typeof virDomainRunningReason];

export const virDomainSaveImageXMLFlags = {
  VIR_DOMAIN_SAVE_IMAGE_XML_SECURE: 1,
} as const;
export type virDomainSaveImageXMLFlags =
  (typeof virDomainSaveImageXMLFlags)[keyof typeof virDomainSaveImageXMLFlags];

export const virDomainSaveRestoreFlags = {
  VIR_DOMAIN_SAVE_BYPASS_CACHE: 1,
  VIR_DOMAIN_SAVE_RUNNING: 2,
  VIR_DOMAIN_SAVE_PAUSED: 4,
  VIR_DOMAIN_SAVE_RESET_NVRAM: 8,
} as const;
export type virDomainSaveRestoreFlags =
  (typeof virDomainSaveRestoreFlags)[keyof typeof virDomainSaveRestoreFlags];

export const virDomainSetTimeFlags = {
  VIR_DOMAIN_TIME_SYNC: 1,
} as const;
export type virDomainSetTimeFlags = (typeof virDomainSetTimeFlags)[keyof typeof virDomainSetTimeFlags];

export const virDomainSetUserPasswordFlags = {
  VIR_DOMAIN_PASSWORD_ENCRYPTED: 1,
} as const;
export type virDomainSetUserPasswordFlags =
  (typeof virDomainSetUserPasswordFlags)[keyof typeof virDomainSetUserPasswordFlags];

export const virDomainShutdownFlagValues = {
  VIR_DOMAIN_SHUTDOWN_DEFAULT: 0,
  VIR_DOMAIN_SHUTDOWN_ACPI_POWER_BTN: 1,
  VIR_DOMAIN_SHUTDOWN_GUEST_AGENT: 2,
  VIR_DOMAIN_SHUTDOWN_INITCTL: 4,
  VIR_DOMAIN_SHUTDOWN_SIGNAL: 8,
  VIR_DOMAIN_SHUTDOWN_PARAVIRT: 16,
} as const;
export type virDomainShutdownFlagValues =
  (typeof virDomainShutdownFlagValues)[keyof typeof virDomainShutdownFlagValues];

export const virDomainShutdownReason = {
  VIR_DOMAIN_SHUTDOWN_UNKNOWN: 0,
  VIR_DOMAIN_SHUTDOWN_USER: 1,
  VIR_DOMAIN_SHUTDOWN_LAST: 2,
} as const;
export type virDomainShutdownReason = (typeof virDomainShutdownReason)[keyof typeof virDomainShutdownReason];

export const virDomainShutoffReason = {
  VIR_DOMAIN_SHUTOFF_UNKNOWN: 0,
  VIR_DOMAIN_SHUTOFF_SHUTDOWN: 1,
  VIR_DOMAIN_SHUTOFF_DESTROYED: 2,
  VIR_DOMAIN_SHUTOFF_CRASHED: 3,
  VIR_DOMAIN_SHUTOFF_MIGRATED: 4,
  VIR_DOMAIN_SHUTOFF_SAVED: 5,
  VIR_DOMAIN_SHUTOFF_FAILED: 6,
  VIR_DOMAIN_SHUTOFF_FROM_SNAPSHOT: 7,
  VIR_DOMAIN_SHUTOFF_DAEMON: 8,
  VIR_DOMAIN_SHUTOFF_LAST: 9,
} as const;
export type virDomainShutoffReason = (typeof virDomainShutoffReason)[keyof typeof virDomainShutoffReason];

export const virDomainSnapshotCreateFlags = {
  VIR_DOMAIN_SNAPSHOT_CREATE_REDEFINE: 1,
  VIR_DOMAIN_SNAPSHOT_CREATE_CURRENT: 2,
  VIR_DOMAIN_SNAPSHOT_CREATE_NO_METADATA: 4,
  VIR_DOMAIN_SNAPSHOT_CREATE_HALT: 8,
  VIR_DOMAIN_SNAPSHOT_CREATE_DISK_ONLY: 16,
  VIR_DOMAIN_SNAPSHOT_CREATE_REUSE_EXT: 32,
  VIR_DOMAIN_SNAPSHOT_CREATE_QUIESCE: 64,
  VIR_DOMAIN_SNAPSHOT_CREATE_ATOMIC: 128,
  VIR_DOMAIN_SNAPSHOT_CREATE_LIVE: 256,
  VIR_DOMAIN_SNAPSHOT_CREATE_VALIDATE: 512,
} as const;
export type virDomainSnapshotCreateFlags =
  (typeof virDomainSnapshotCreateFlags)[keyof typeof virDomainSnapshotCreateFlags];

export const virDomainSnapshotDeleteFlags = {
  VIR_DOMAIN_SNAPSHOT_DELETE_CHILDREN: 1,
  VIR_DOMAIN_SNAPSHOT_DELETE_METADATA_ONLY: 2,
  VIR_DOMAIN_SNAPSHOT_DELETE_CHILDREN_ONLY: 4,
} as const;
export type virDomainSnapshotDeleteFlags =
  (typeof virDomainSnapshotDeleteFlags)[keyof typeof virDomainSnapshotDeleteFlags];

export const virDomainSnapshotListFlags = {
  VIR_DOMAIN_SNAPSHOT_LIST_DESCENDANTS: 1,
  VIR_DOMAIN_SNAPSHOT_LIST_ROOTS: 1,
  VIR_DOMAIN_SNAPSHOT_LIST_METADATA: 2,
  VIR_DOMAIN_SNAPSHOT_LIST_LEAVES: 4,
  VIR_DOMAIN_SNAPSHOT_LIST_NO_LEAVES: 8,
  VIR_DOMAIN_SNAPSHOT_LIST_NO_METADATA: 16,
  VIR_DOMAIN_SNAPSHOT_LIST_INACTIVE: 32,
  VIR_DOMAIN_SNAPSHOT_LIST_ACTIVE: 64,
  VIR_DOMAIN_SNAPSHOT_LIST_DISK_ONLY: 128,
  VIR_DOMAIN_SNAPSHOT_LIST_INTERNAL: 256,
  VIR_DOMAIN_SNAPSHOT_LIST_EXTERNAL: 512,
  VIR_DOMAIN_SNAPSHOT_LIST_TOPOLOGICAL: 1024,
} as const;
export type virDomainSnapshotListFlags =
  (typeof virDomainSnapshotListFlags)[keyof typeof virDomainSnapshotListFlags];

export const virDomainSnapshotRevertFlags = {
  VIR_DOMAIN_SNAPSHOT_REVERT_RUNNING: 1,
  VIR_DOMAIN_SNAPSHOT_REVERT_PAUSED: 2,
  VIR_DOMAIN_SNAPSHOT_REVERT_FORCE: 4,
  VIR_DOMAIN_SNAPSHOT_REVERT_RESET_NVRAM: 8,
} as const;
export type virDomainSnapshotRevertFlags =
  (typeof virDomainSnapshotRevertFlags)[keyof typeof virDomainSnapshotRevertFlags];

export const virDomainSnapshotXMLFlags = {
  VIR_DOMAIN_SNAPSHOT_XML_SECURE: 1,
} as const;
export type virDomainSnapshotXMLFlags =
  (typeof virDomainSnapshotXMLFlags)[keyof typeof virDomainSnapshotXMLFlags];

export const virDomainState = {
  VIR_DOMAIN_NOSTATE: 0,
  VIR_DOMAIN_RUNNING: 1,
  VIR_DOMAIN_BLOCKED: 2,
  VIR_DOMAIN_PAUSED: 3,
  VIR_DOMAIN_SHUTDOWN: 4,
  VIR_DOMAIN_SHUTOFF: 5,
  VIR_DOMAIN_CRASHED: 6,
  VIR_DOMAIN_PMSUSPENDED: 7,
  VIR_DOMAIN_LAST: 8,
} as const;
export type virDomainState = (typeof virDomainState)[keyof typeof virDomainState];

export const virDomainStatsTypes = {
  VIR_DOMAIN_STATS_STATE: 1,
  VIR_DOMAIN_STATS_CPU_TOTAL: 2,
  VIR_DOMAIN_STATS_BALLOON: 4,
  VIR_DOMAIN_STATS_VCPU: 8,
  VIR_DOMAIN_STATS_INTERFACE: 16,
  VIR_DOMAIN_STATS_BLOCK: 32,
  VIR_DOMAIN_STATS_PERF: 64,
  VIR_DOMAIN_STATS_IOTHREAD: 128,
  VIR_DOMAIN_STATS_MEMORY: 256,
  VIR_DOMAIN_STATS_DIRTYRATE: 512,
  VIR_DOMAIN_STATS_VM: 1024,
} as const;
export type virDomainStatsTypes = (typeof virDomainStatsTypes)[keyof typeof virDomainStatsTypes];

export const virDomainUndefineFlagsValues = {
  VIR_DOMAIN_UNDEFINE_MANAGED_SAVE: 1,
  VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA: 2,
  VIR_DOMAIN_UNDEFINE_NVRAM: 4,
  VIR_DOMAIN_UNDEFINE_KEEP_NVRAM: 8,
  VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA: 16,
  VIR_DOMAIN_UNDEFINE_TPM: 32,
  VIR_DOMAIN_UNDEFINE_KEEP_TPM: 64,
} as const;
export type virDomainUndefineFlagsValues =
  (typeof virDomainUndefineFlagsValues)[keyof typeof virDomainUndefineFlagsValues];

export const virDomainVcpuFlags = {
  VIR_DOMAIN_VCPU_CURRENT: 0,
  VIR_DOMAIN_VCPU_LIVE: 1,
  VIR_DOMAIN_VCPU_CONFIG: 2,
  VIR_DOMAIN_VCPU_MAXIMUM: 4,
  VIR_DOMAIN_VCPU_GUEST: 8,
  VIR_DOMAIN_VCPU_HOTPLUGGABLE: 16,
} as const;
export type virDomainVcpuFlags = (typeof virDomainVcpuFlags)[keyof typeof virDomainVcpuFlags];

export const virDomainXMLFlags = {
  VIR_DOMAIN_XML_SECURE: 1,
  VIR_DOMAIN_XML_INACTIVE: 2,
  VIR_DOMAIN_XML_UPDATE_CPU: 4,
  VIR_DOMAIN_XML_MIGRATABLE: 8,
} as const;
export type virDomainXMLFlags = (typeof virDomainXMLFlags)[keyof typeof virDomainXMLFlags];

export const virErrorDomain = {
  VIR_FROM_NONE: 0,
  VIR_FROM_XEN: 1,
  VIR_FROM_XEND: 2,
  VIR_FROM_XENSTORE: 3,
  VIR_FROM_SEXPR: 4,
  VIR_FROM_XML: 5,
  VIR_FROM_DOM: 6,
  VIR_FROM_RPC: 7,
  VIR_FROM_PROXY: 8,
  VIR_FROM_CONF: 9,
  VIR_FROM_QEMU: 10,
  VIR_FROM_NET: 11,
  VIR_FROM_TEST: 12,
  VIR_FROM_REMOTE: 13,
  VIR_FROM_OPENVZ: 14,
  VIR_FROM_XENXM: 15,
  VIR_FROM_STATS_LINUX: 16,
  VIR_FROM_LXC: 17,
  VIR_FROM_STORAGE: 18,
  VIR_FROM_NETWORK: 19,
  VIR_FROM_DOMAIN: 20,
  VIR_FROM_UML: 21,
  VIR_FROM_NODEDEV: 22,
  VIR_FROM_XEN_INOTIFY: 23,
  VIR_FROM_SECURITY: 24,
  VIR_FROM_VBOX: 25,
  VIR_FROM_INTERFACE: 26,
  VIR_FROM_ONE: 27,
  VIR_FROM_ESX: 28,
  VIR_FROM_PHYP: 29,
  VIR_FROM_SECRET: 30,
  VIR_FROM_CPU: 31,
  VIR_FROM_XENAPI: 32,
  VIR_FROM_NWFILTER: 33,
  VIR_FROM_HOOK: 34,
  VIR_FROM_DOMAIN_SNAPSHOT: 35,
  VIR_FROM_AUDIT: 36,
  VIR_FROM_SYSINFO: 37,
  VIR_FROM_STREAMS: 38,
  VIR_FROM_VMWARE: 39,
  VIR_FROM_EVENT: 40,
  VIR_FROM_LIBXL: 41,
  VIR_FROM_LOCKING: 42,
  VIR_FROM_HYPERV: 43,
  VIR_FROM_CAPABILITIES: 44,
  VIR_FROM_URI: 45,
  VIR_FROM_AUTH: 46,
  VIR_FROM_DBUS: 47,
  VIR_FROM_PARALLELS: 48,
  VIR_FROM_DEVICE: 49,
  VIR_FROM_SSH: 50,
  VIR_FROM_LOCKSPACE: 51,
  VIR_FROM_INITCTL: 52,
  VIR_FROM_IDENTITY: 53,
  VIR_FROM_CGROUP: 54,
  VIR_FROM_ACCESS: 55,
  VIR_FROM_SYSTEMD: 56,
  VIR_FROM_BHYVE: 57,
  VIR_FROM_CRYPTO: 58,
  VIR_FROM_FIREWALL: 59,
  VIR_FROM_POLKIT: 60,
  VIR_FROM_THREAD: 61,
  VIR_FROM_ADMIN: 62,
  VIR_FROM_LOGGING: 63,
  VIR_FROM_XENXL: 64,
  VIR_FROM_PERF: 65,
  VIR_FROM_LIBSSH: 66,
  VIR_FROM_RESCTRL: 67,
  VIR_FROM_FIREWALLD: 68,
  VIR_FROM_DOMAIN_CHECKPOINT: 69,
  VIR_FROM_TPM: 70,
  VIR_FROM_BPF: 71,
  VIR_FROM_CH: 72,
  VIR_ERR_DOMAIN_LAST: 73,
} as const;
export type virErrorDomain = (typeof virErrorDomain)[keyof typeof virErrorDomain];

export const virErrorLevel = {
  VIR_ERR_NONE: 0,
  VIR_ERR_WARNING: 1,
  VIR_ERR_ERROR: 2,
} as const;
export type virErrorLevel = (typeof virErrorLevel)[keyof typeof virErrorLevel];

export const virErrorNumber = {
  VIR_ERR_OK: 0,
  VIR_ERR_INTERNAL_ERROR: 1,
  VIR_ERR_NO_MEMORY: 2,
  VIR_ERR_NO_SUPPORT: 3,
  VIR_ERR_UNKNOWN_HOST: 4,
  VIR_ERR_NO_CONNECT: 5,
  VIR_ERR_INVALID_CONN: 6,
  VIR_ERR_INVALID_DOMAIN: 7,
  VIR_ERR_INVALID_ARG: 8,
  VIR_ERR_OPERATION_FAILED: 9,
  VIR_ERR_GET_FAILED: 10,
  VIR_ERR_POST_FAILED: 11,
  VIR_ERR_HTTP_ERROR: 12,
  VIR_ERR_SEXPR_SERIAL: 13,
  VIR_ERR_NO_XEN: 14,
  VIR_ERR_XEN_CALL: 15,
  VIR_ERR_OS_TYPE: 16,
  VIR_ERR_NO_KERNEL: 17,
  VIR_ERR_NO_ROOT: 18,
  VIR_ERR_NO_SOURCE: 19,
  VIR_ERR_NO_TARGET: 20,
  VIR_ERR_NO_NAME: 21,
  VIR_ERR_NO_OS: 22,
  VIR_ERR_NO_DEVICE: 23,
  VIR_ERR_NO_XENSTORE: 24,
  VIR_ERR_DRIVER_FULL: 25,
  VIR_ERR_CALL_FAILED: 26,
  VIR_ERR_XML_ERROR: 27,
  VIR_ERR_DOM_EXIST: 28,
  VIR_ERR_OPERATION_DENIED: 29,
  VIR_ERR_OPEN_FAILED: 30,
  VIR_ERR_READ_FAILED: 31,
  VIR_ERR_PARSE_FAILED: 32,
  VIR_ERR_CONF_SYNTAX: 33,
  VIR_ERR_WRITE_FAILED: 34,
  VIR_ERR_XML_DETAIL: 35,
  VIR_ERR_INVALID_NETWORK: 36,
  VIR_ERR_NETWORK_EXIST: 37,
  VIR_ERR_SYSTEM_ERROR: 38,
  VIR_ERR_RPC: 39,
  VIR_ERR_GNUTLS_ERROR: 40,
  VIR_WAR_NO_NETWORK: 41,
  VIR_ERR_NO_DOMAIN: 42,
  VIR_ERR_NO_NETWORK: 43,
  VIR_ERR_INVALID_MAC: 44,
  VIR_ERR_AUTH_FAILED: 45,
  VIR_ERR_INVALID_STORAGE_POOL: 46,
  VIR_ERR_INVALID_STORAGE_VOL: 47,
  VIR_WAR_NO_STORAGE: 48,
  VIR_ERR_NO_STORAGE_POOL: 49,
  VIR_ERR_NO_STORAGE_VOL: 50,
  VIR_WAR_NO_NODE: 51,
  VIR_ERR_INVALID_NODE_DEVICE: 52,
  VIR_ERR_NO_NODE_DEVICE: 53,
  VIR_ERR_NO_SECURITY_MODEL: 54,
  VIR_ERR_OPERATION_INVALID: 55,
  VIR_WAR_NO_INTERFACE: 56,
  VIR_ERR_NO_INTERFACE: 57,
  VIR_ERR_INVALID_INTERFACE: 58,
  VIR_ERR_MULTIPLE_INTERFACES: 59,
  VIR_WAR_NO_NWFILTER: 60,
  VIR_ERR_INVALID_NWFILTER: 61,
  VIR_ERR_NO_NWFILTER: 62,
  VIR_ERR_BUILD_FIREWALL: 63,
  VIR_WAR_NO_SECRET: 64,
  VIR_ERR_INVALID_SECRET: 65,
  VIR_ERR_NO_SECRET: 66,
  VIR_ERR_CONFIG_UNSUPPORTED: 67,
  VIR_ERR_OPERATION_TIMEOUT: 68,
  VIR_ERR_MIGRATE_PERSIST_FAILED: 69,
  VIR_ERR_HOOK_SCRIPT_FAILED: 70,
  VIR_ERR_INVALID_DOMAIN_SNAPSHOT: 71,
  VIR_ERR_NO_DOMAIN_SNAPSHOT: 72,
  VIR_ERR_INVALID_STREAM: 73,
  VIR_ERR_ARGUMENT_UNSUPPORTED: 74,
  VIR_ERR_STORAGE_PROBE_FAILED: 75,
  VIR_ERR_STORAGE_POOL_BUILT: 76,
  VIR_ERR_SNAPSHOT_REVERT_RISKY: 77,
  VIR_ERR_OPERATION_ABORTED: 78,
  VIR_ERR_AUTH_CANCELLED: 79,
  VIR_ERR_NO_DOMAIN_METADATA: 80,
  VIR_ERR_MIGRATE_UNSAFE: 81,
  VIR_ERR_OVERFLOW: 82,
  VIR_ERR_BLOCK_COPY_ACTIVE: 83,
  VIR_ERR_OPERATION_UNSUPPORTED: 84,
  VIR_ERR_SSH: 85,
  VIR_ERR_AGENT_UNRESPONSIVE: 86,
  VIR_ERR_RESOURCE_BUSY: 87,
  VIR_ERR_ACCESS_DENIED: 88,
  VIR_ERR_DBUS_SERVICE: 89,
  VIR_ERR_STORAGE_VOL_EXIST: 90,
  VIR_ERR_CPU_INCOMPATIBLE: 91,
  VIR_ERR_XML_INVALID_SCHEMA: 92,
  VIR_ERR_MIGRATE_FINISH_OK: 93,
  VIR_ERR_AUTH_UNAVAILABLE: 94,
  VIR_ERR_NO_SERVER: 95,
  VIR_ERR_NO_CLIENT: 96,
  VIR_ERR_AGENT_UNSYNCED: 97,
  VIR_ERR_LIBSSH: 98,
  VIR_ERR_DEVICE_MISSING: 99,
  VIR_ERR_INVALID_NWFILTER_BINDING: 100,
  VIR_ERR_NO_NWFILTER_BINDING: 101,
  VIR_ERR_INVALID_DOMAIN_CHECKPOINT: 102,
  VIR_ERR_NO_DOMAIN_CHECKPOINT: 103,
  VIR_ERR_NO_DOMAIN_BACKUP: 104,
  VIR_ERR_INVALID_NETWORK_PORT: 105,
  VIR_ERR_NETWORK_PORT_EXIST: 106,
  VIR_ERR_NO_NETWORK_PORT: 107,
  VIR_ERR_NO_HOSTNAME: 108,
  VIR_ERR_CHECKPOINT_INCONSISTENT: 109,
  VIR_ERR_MULTIPLE_DOMAINS: 110,
  VIR_ERR_NUMBER_LAST: 111,
} as const;
export type virErrorNumber = (typeof virErrorNumber)[keyof typeof virErrorNumber];

export const virEventHandleType = {
  VIR_EVENT_HANDLE_READABLE: 1,
  VIR_EVENT_HANDLE_WRITABLE: 2,
  VIR_EVENT_HANDLE_ERROR: 4,
  VIR_EVENT_HANDLE_HANGUP: 8,
} as const;
export type virEventHandleType = (typeof virEventHandleType)[keyof typeof virEventHandleType];

export const virIPAddrType = {
  VIR_IP_ADDR_TYPE_IPV4: 0,
  VIR_IP_ADDR_TYPE_IPV6: 1,
  VIR_IP_ADDR_TYPE_LAST: 2,
} as const;
export type virIPAddrType = (typeof virIPAddrType)[keyof typeof virIPAddrType];

export const virInterfaceDefineFlags = {
  VIR_INTERFACE_DEFINE_VALIDATE: 1,
} as const;
export type virInterfaceDefineFlags = (typeof virInterfaceDefineFlags)[keyof typeof virInterfaceDefineFlags];

export const virInterfaceXMLFlags = {
  VIR_INTERFACE_XML_INACTIVE: 1,
} as const;
export type virInterfaceXMLFlags = (typeof virInterfaceXMLFlags)[keyof typeof virInterfaceXMLFlags];

export const virKeycodeSet = {
  VIR_KEYCODE_SET_LINUX: 0,
  VIR_KEYCODE_SET_XT: 1,
  VIR_KEYCODE_SET_ATSET1: 2,
  VIR_KEYCODE_SET_ATSET2: 3,
  VIR_KEYCODE_SET_ATSET3: 4,
  VIR_KEYCODE_SET_OSX: 5,
  VIR_KEYCODE_SET_XT_KBD: 6,
  VIR_KEYCODE_SET_USB: 7,
  VIR_KEYCODE_SET_WIN32: 8,
  VIR_KEYCODE_SET_QNUM: 9,
  VIR_KEYCODE_SET_LAST: 10,
} as const;
export type virKeycodeSet = (typeof virKeycodeSet)[keyof typeof virKeycodeSet];

export const virMemoryParameterType = {
  VIR_DOMAIN_MEMORY_PARAM_INT: 1,
  VIR_DOMAIN_MEMORY_PARAM_UINT: 2,
  VIR_DOMAIN_MEMORY_PARAM_LLONG: 3,
  VIR_DOMAIN_MEMORY_PARAM_ULLONG: 4,
  VIR_DOMAIN_MEMORY_PARAM_DOUBLE: 5,
  VIR_DOMAIN_MEMORY_PARAM_BOOLEAN: 6,
} as const;
export type virMemoryParameterType = (typeof virMemoryParameterType)[keyof typeof virMemoryParameterType];

export const virNWFilterBindingCreateFlags = {
  VIR_NWFILTER_BINDING_CREATE_VALIDATE: 1,
} as const;
export type virNWFilterBindingCreateFlags =
  (typeof virNWFilterBindingCreateFlags)[keyof typeof virNWFilterBindingCreateFlags];

export const virNWFilterDefineFlags = {
  VIR_NWFILTER_DEFINE_VALIDATE: 1,
} as const;
export type virNWFilterDefineFlags = (typeof virNWFilterDefineFlags)[keyof typeof virNWFilterDefineFlags];

export const virNetworkCreateFlags = {
  VIR_NETWORK_CREATE_VALIDATE: 1,
} as const;
export type virNetworkCreateFlags = (typeof virNetworkCreateFlags)[keyof typeof virNetworkCreateFlags];

export const virNetworkDefineFlags = {
  VIR_NETWORK_DEFINE_VALIDATE: 1,
} as const;
export type virNetworkDefineFlags = (typeof virNetworkDefineFlags)[keyof typeof virNetworkDefineFlags];

export const virNetworkEventID = {
  VIR_NETWORK_EVENT_ID_LIFECYCLE: 0,
  VIR_NETWORK_EVENT_ID_LAST: 1,
} as const;
export type virNetworkEventID = (typeof virNetworkEventID)[keyof typeof virNetworkEventID];

export const virNetworkEventLifecycleType = {
  VIR_NETWORK_EVENT_DEFINED: 0,
  VIR_NETWORK_EVENT_UNDEFINED: 1,
  VIR_NETWORK_EVENT_STARTED: 2,
  VIR_NETWORK_EVENT_STOPPED: 3,
  VIR_NETWORK_EVENT_LAST: 4,
} as const;
export type virNetworkEventLifecycleType =
  (typeof virNetworkEventLifecycleType)[keyof typeof virNetworkEventLifecycleType];

export const virNetworkPortCreateFlags = {
  VIR_NETWORK_PORT_CREATE_RECLAIM: 1,
  VIR_NETWORK_PORT_CREATE_VALIDATE: 2,
} as const;
export type virNetworkPortCreateFlags =
  (typeof virNetworkPortCreateFlags)[keyof typeof virNetworkPortCreateFlags];

export const virNetworkUpdateCommand = {
  VIR_NETWORK_UPDATE_COMMAND_NONE: 0,
  VIR_NETWORK_UPDATE_COMMAND_MODIFY: 1,
  VIR_NETWORK_UPDATE_COMMAND_DELETE: 2,
  VIR_NETWORK_UPDATE_COMMAND_ADD_LAST: 3,
  VIR_NETWORK_UPDATE_COMMAND_ADD_FIRST: 4,
  VIR_NETWORK_UPDATE_COMMAND_LAST: 5,
} as const;
export type virNetworkUpdateCommand = (typeof virNetworkUpdateCommand)[keyof typeof virNetworkUpdateCommand];

export const virNetworkUpdateFlags = {
  VIR_NETWORK_UPDATE_AFFECT_CURRENT: 0,
  VIR_NETWORK_UPDATE_AFFECT_LIVE: 1,
  VIR_NETWORK_UPDATE_AFFECT_CONFIG: 2,
} as const;
export type virNetworkUpdateFlags = (typeof virNetworkUpdateFlags)[keyof typeof virNetworkUpdateFlags];

export const virNetworkUpdateSection = {
  VIR_NETWORK_SECTION_NONE: 0,
  VIR_NETWORK_SECTION_BRIDGE: 1,
  VIR_NETWORK_SECTION_DOMAIN: 2,
  VIR_NETWORK_SECTION_IP: 3,
  VIR_NETWORK_SECTION_IP_DHCP_HOST: 4,
  VIR_NETWORK_SECTION_IP_DHCP_RANGE: 5,
  VIR_NETWORK_SECTION_FORWARD: 6,
  VIR_NETWORK_SECTION_FORWARD_INTERFACE: 7,
  VIR_NETWORK_SECTION_FORWARD_PF: 8,
  VIR_NETWORK_SECTION_PORTGROUP: 9,
  VIR_NETWORK_SECTION_DNS_HOST: 10,
  VIR_NETWORK_SECTION_DNS_TXT: 11,
  VIR_NETWORK_SECTION_DNS_SRV: 12,
  VIR_NETWORK_SECTION_LAST: 13,
} as const;
export type virNetworkUpdateSection = (typeof virNetworkUpdateSection)[keyof typeof virNetworkUpdateSection];

export const virNetworkXMLFlags = {
  VIR_NETWORK_XML_INACTIVE: 1,
} as const;
export type virNetworkXMLFlags = (typeof virNetworkXMLFlags)[keyof typeof virNetworkXMLFlags];

export const virNodeAllocPagesFlags = {
  VIR_NODE_ALLOC_PAGES_ADD: 0,
  VIR_NODE_ALLOC_PAGES_SET: 1,
} as const;
export type virNodeAllocPagesFlags = (typeof virNodeAllocPagesFlags)[keyof typeof virNodeAllocPagesFlags];

export const virNodeDeviceCreateXMLFlags = {
  VIR_NODE_DEVICE_CREATE_XML_VALIDATE: 1,
} as const;
export type virNodeDeviceCreateXMLFlags =
  (typeof virNodeDeviceCreateXMLFlags)[keyof typeof virNodeDeviceCreateXMLFlags];

export const virNodeDeviceDefineXMLFlags = {
  VIR_NODE_DEVICE_DEFINE_XML_VALIDATE: 1,
} as const;
export type virNodeDeviceDefineXMLFlags =
  (typeof virNodeDeviceDefineXMLFlags)[keyof typeof virNodeDeviceDefineXMLFlags];

export const virNodeDeviceEventID = {
  VIR_NODE_DEVICE_EVENT_ID_LIFECYCLE: 0,
  VIR_NODE_DEVICE_EVENT_ID_UPDATE: 1,
  VIR_NODE_DEVICE_EVENT_ID_LAST: 2,
} as const;
export type virNodeDeviceEventID = (typeof virNodeDeviceEventID)[keyof typeof virNodeDeviceEventID];

export const virNodeDeviceEventLifecycleType = {
  VIR_NODE_DEVICE_EVENT_CREATED: 0,
  VIR_NODE_DEVICE_EVENT_DELETED: 1,
  VIR_NODE_DEVICE_EVENT_DEFINED: 2,
  VIR_NODE_DEVICE_EVENT_UNDEFINED: 3,
  VIR_NODE_DEVICE_EVENT_LAST: 4,
} as const;
export type virNodeDeviceEventLifecycleType =
  (typeof virNodeDeviceEventLifecycleType)[keyof typeof virNodeDeviceEventLifecycleType];

export const virNodeGetCPUStatsAllCPUs = {
  VIR_NODE_CPU_STATS_ALL_CPUS: -1,
} as const;
export type virNodeGetCPUStatsAllCPUs =
  (typeof virNodeGetCPUStatsAllCPUs)[keyof typeof virNodeGetCPUStatsAllCPUs];

export const virNodeGetMemoryStatsAllCells = {
  VIR_NODE_MEMORY_STATS_ALL_CELLS: -1,
} as const;
export type virNodeGetMemoryStatsAllCells =
  (typeof virNodeGetMemoryStatsAllCells)[keyof typeof virNodeGetMemoryStatsAllCells];

export const virNodeSuspendTarget = {
  VIR_NODE_SUSPEND_TARGET_MEM: 0,
  VIR_NODE_SUSPEND_TARGET_DISK: 1,
  VIR_NODE_SUSPEND_TARGET_HYBRID: 2,
  VIR_NODE_SUSPEND_TARGET_LAST: 3,
} as const;
export type virNodeSuspendTarget = (typeof virNodeSuspendTarget)[keyof typeof virNodeSuspendTarget];

export const virSchedParameterType = {
  VIR_DOMAIN_SCHED_FIELD_INT: 1,
  VIR_DOMAIN_SCHED_FIELD_UINT: 2,
  VIR_DOMAIN_SCHED_FIELD_LLONG: 3,
  VIR_DOMAIN_SCHED_FIELD_ULLONG: 4,
  VIR_DOMAIN_SCHED_FIELD_DOUBLE: 5,
  VIR_DOMAIN_SCHED_FIELD_BOOLEAN: 6,
} as const;
export type virSchedParameterType = (typeof virSchedParameterType)[keyof typeof virSchedParameterType];

export const virSecretDefineFlags = {
  VIR_SECRET_DEFINE_VALIDATE: 1,
} as const;
export type virSecretDefineFlags = (typeof virSecretDefineFlags)[keyof typeof virSecretDefineFlags];

export const virSecretEventID = {
  VIR_SECRET_EVENT_ID_LIFECYCLE: 0,
  VIR_SECRET_EVENT_ID_VALUE_CHANGED: 1,
  VIR_SECRET_EVENT_ID_LAST: 2,
} as const;
export type virSecretEventID = (typeof virSecretEventID)[keyof typeof virSecretEventID];

export const virSecretEventLifecycleType = {
  VIR_SECRET_EVENT_DEFINED: 0,
  VIR_SECRET_EVENT_UNDEFINED: 1,
  VIR_SECRET_EVENT_LAST: 2,
} as const;
export type virSecretEventLifecycleType =
  (typeof virSecretEventLifecycleType)[keyof typeof virSecretEventLifecycleType];

export const virSecretUsageType = {
  VIR_SECRET_USAGE_TYPE_NONE: 0,
  VIR_SECRET_USAGE_TYPE_VOLUME: 1,
  VIR_SECRET_USAGE_TYPE_CEPH: 2,
  VIR_SECRET_USAGE_TYPE_ISCSI: 3,
  VIR_SECRET_USAGE_TYPE_TLS: 4,
  VIR_SECRET_USAGE_TYPE_VTPM: 5,
  VIR_SECRET_USAGE_TYPE_LAST: 6,
} as const;
export type virSecretUsageType = (typeof virSecretUsageType)[keyof typeof virSecretUsageType];

export const virStoragePoolBuildFlags = {
  VIR_STORAGE_POOL_BUILD_NEW: 0,
  VIR_STORAGE_POOL_BUILD_REPAIR: 1,
  VIR_STORAGE_POOL_BUILD_RESIZE: 2,
  VIR_STORAGE_POOL_BUILD_NO_OVERWRITE: 4,
  VIR_STORAGE_POOL_BUILD_OVERWRITE: 8,
} as const;
export type virStoragePoolBuildFlags =
  (typeof virStoragePoolBuildFlags)[keyof typeof virStoragePoolBuildFlags];

export const virStoragePoolCreateFlags = {
  VIR_STORAGE_POOL_CREATE_NORMAL: 0,
  VIR_STORAGE_POOL_CREATE_WITH_BUILD: 1,
  VIR_STORAGE_POOL_CREATE_WITH_BUILD_OVERWRITE: 2,
  VIR_STORAGE_POOL_CREATE_WITH_BUILD_NO_OVERWRITE: 4,
} as const;
export type virStoragePoolCreateFlags =
  (typeof virStoragePoolCreateFlags)[keyof typeof virStoragePoolCreateFlags];

export const virStoragePoolDefineFlags = {
  VIR_STORAGE_POOL_DEFINE_VALIDATE: 1,
} as const;
export type virStoragePoolDefineFlags =
  (typeof virStoragePoolDefineFlags)[keyof typeof virStoragePoolDefineFlags];

export const virStoragePoolDeleteFlags = {
  VIR_STORAGE_POOL_DELETE_NORMAL: 0,
  VIR_STORAGE_POOL_DELETE_ZEROED: 1,
} as const;
export type virStoragePoolDeleteFlags =
  (typeof virStoragePoolDeleteFlags)[keyof typeof virStoragePoolDeleteFlags];

export const virStoragePoolEventID = {
  VIR_STORAGE_POOL_EVENT_ID_LIFECYCLE: 0,
  VIR_STORAGE_POOL_EVENT_ID_REFRESH: 1,
  VIR_STORAGE_POOL_EVENT_ID_LAST: 2,
} as const;
export type virStoragePoolEventID = (typeof virStoragePoolEventID)[keyof typeof virStoragePoolEventID];

export const virStoragePoolEventLifecycleType = {
  VIR_STORAGE_POOL_EVENT_DEFINED: 0,
  VIR_STORAGE_POOL_EVENT_UNDEFINED: 1,
  VIR_STORAGE_POOL_EVENT_STARTED: 2,
  VIR_STORAGE_POOL_EVENT_STOPPED: 3,
  VIR_STORAGE_POOL_EVENT_CREATED: 4,
  VIR_STORAGE_POOL_EVENT_DELETED: 5,
  VIR_STORAGE_POOL_EVENT_LAST: 6,
} as const;
export type virStoragePoolEventLifecycleType =
  (typeof virStoragePoolEventLifecycleType)[keyof typeof virStoragePoolEventLifecycleType];

export const virStoragePoolState = {
  VIR_STORAGE_POOL_INACTIVE: 0,
  VIR_STORAGE_POOL_BUILDING: 1,
  VIR_STORAGE_POOL_RUNNING: 2,
  VIR_STORAGE_POOL_DEGRADED: 3,
  VIR_STORAGE_POOL_INACCESSIBLE: 4,
  VIR_STORAGE_POOL_STATE_LAST: 5,
} as const;
export type virStoragePoolState = (typeof virStoragePoolState)[keyof typeof virStoragePoolState];

export const virStorageVolCreateFlags = {
  VIR_STORAGE_VOL_CREATE_PREALLOC_METADATA: 1,
  VIR_STORAGE_VOL_CREATE_REFLINK: 2,
  VIR_STORAGE_VOL_CREATE_VALIDATE: 4,
} as const;
export type virStorageVolCreateFlags =
  (typeof virStorageVolCreateFlags)[keyof typeof virStorageVolCreateFlags];

export const virStorageVolDeleteFlags = {
  VIR_STORAGE_VOL_DELETE_NORMAL: 0,
  VIR_STORAGE_VOL_DELETE_ZEROED: 1,
  VIR_STORAGE_VOL_DELETE_WITH_SNAPSHOTS: 2,
} as const;
export type virStorageVolDeleteFlags =
  (typeof virStorageVolDeleteFlags)[keyof typeof virStorageVolDeleteFlags];

export const virStorageVolDownloadFlags = {
  VIR_STORAGE_VOL_DOWNLOAD_SPARSE_STREAM: 1,
} as const;
export type virStorageVolDownloadFlags =
  (typeof virStorageVolDownloadFlags)[keyof typeof virStorageVolDownloadFlags];

export const virStorageVolInfoFlags = {
  VIR_STORAGE_VOL_USE_ALLOCATION: 0,
  VIR_STORAGE_VOL_GET_PHYSICAL: 1,
} as const;
export type virStorageVolInfoFlags = (typeof virStorageVolInfoFlags)[keyof typeof virStorageVolInfoFlags];

export const virStorageVolResizeFlags = {
  VIR_STORAGE_VOL_RESIZE_ALLOCATE: 1,
  VIR_STORAGE_VOL_RESIZE_DELTA: 2,
  VIR_STORAGE_VOL_RESIZE_SHRINK: 4,
} as const;
export type virStorageVolResizeFlags =
  (typeof virStorageVolResizeFlags)[keyof typeof virStorageVolResizeFlags];

export const virStorageVolType = {
  VIR_STORAGE_VOL_FILE: 0,
  VIR_STORAGE_VOL_BLOCK: 1,
  VIR_STORAGE_VOL_DIR: 2,
  VIR_STORAGE_VOL_NETWORK: 3,
  VIR_STORAGE_VOL_NETDIR: 4,
  VIR_STORAGE_VOL_PLOOP: 5,
  VIR_STORAGE_VOL_LAST: 6,
} as const;
export type virStorageVolType = (typeof virStorageVolType)[keyof typeof virStorageVolType];

export const virStorageVolUploadFlags = {
  VIR_STORAGE_VOL_UPLOAD_SPARSE_STREAM: 1,
} as const;
export type virStorageVolUploadFlags =
  (typeof virStorageVolUploadFlags)[keyof typeof virStorageVolUploadFlags];

export const virStorageVolWipeAlgorithm = {
  VIR_STORAGE_VOL_WIPE_ALG_ZERO: 0,
  VIR_STORAGE_VOL_WIPE_ALG_NNSA: 1,
  VIR_STORAGE_VOL_WIPE_ALG_DOD: 2,
  VIR_STORAGE_VOL_WIPE_ALG_BSI: 3,
  VIR_STORAGE_VOL_WIPE_ALG_GUTMANN: 4,
  VIR_STORAGE_VOL_WIPE_ALG_SCHNEIER: 5,
  VIR_STORAGE_VOL_WIPE_ALG_PFITZNER7: 6,
  VIR_STORAGE_VOL_WIPE_ALG_PFITZNER33: 7,
  VIR_STORAGE_VOL_WIPE_ALG_RANDOM: 8,
  VIR_STORAGE_VOL_WIPE_ALG_TRIM: 9,
  VIR_STORAGE_VOL_WIPE_ALG_LAST: 10,
} as const;
export type virStorageVolWipeAlgorithm =
  (typeof virStorageVolWipeAlgorithm)[keyof typeof virStorageVolWipeAlgorithm];

export const virStorageXMLFlags = {
  VIR_STORAGE_XML_INACTIVE: 1,
} as const;
export type virStorageXMLFlags = (typeof virStorageXMLFlags)[keyof typeof virStorageXMLFlags];

export const virStreamEventType = {
  VIR_STREAM_EVENT_READABLE: 1,
  VIR_STREAM_EVENT_WRITABLE: 2,
  VIR_STREAM_EVENT_ERROR: 4,
  VIR_STREAM_EVENT_HANGUP: 8,
} as const;
export type virStreamEventType = (typeof virStreamEventType)[keyof typeof virStreamEventType];

export const virStreamFlags = {
  VIR_STREAM_NONBLOCK: 1,
} as const;
export type virStreamFlags = (typeof virStreamFlags)[keyof typeof virStreamFlags];

export const virStreamRecvFlagsValues = {
  VIR_STREAM_RECV_STOP_AT_HOLE: 1,
} as const;
export type virStreamRecvFlagsValues =
  (typeof virStreamRecvFlagsValues)[keyof typeof virStreamRecvFlagsValues];

export const virTypedParameterFlags = {
  VIR_TYPED_PARAM_STRING_OKAY: 4,
} as const;
export type virTypedParameterFlags = (typeof virTypedParameterFlags)[keyof typeof virTypedParameterFlags];

export const virTypedParameterType = {
  VIR_TYPED_PARAM_INT: 1,
  VIR_TYPED_PARAM_UINT: 2,
  VIR_TYPED_PARAM_LLONG: 3,
  VIR_TYPED_PARAM_ULLONG: 4,
  VIR_TYPED_PARAM_DOUBLE: 5,
  VIR_TYPED_PARAM_BOOLEAN: 6,
  VIR_TYPED_PARAM_STRING: 7,
  VIR_TYPED_PARAM_LAST: 8,
} as const;
export type virTypedParameterType = (typeof virTypedParameterType)[keyof typeof virTypedParameterType];

export const virVcpuHostCpuState = {
  VIR_VCPU_INFO_CPU_UNAVAILABLE: -2,
  VIR_VCPU_INFO_CPU_OFFLINE: -1,
} as const;
export type virVcpuHostCpuState = (typeof virVcpuHostCpuState)[keyof typeof virVcpuHostCpuState];

export const virVcpuState = {
  VIR_VCPU_OFFLINE: 0,
  VIR_VCPU_RUNNING: 1,
  VIR_VCPU_BLOCKED: 2,
  VIR_VCPU_LAST: 3,
} as const;
export type virVcpuState = (typeof virVcpuState)[keyof typeof virVcpuState];

/** String macros (typed-parameter field names and the like). */
export const VIR_STRINGS = {
  VIR_CONNECT_IDENTITY_GROUP_NAME: 'group-name',
  VIR_CONNECT_IDENTITY_PROCESS_ID: 'process-id',
  VIR_CONNECT_IDENTITY_PROCESS_TIME: 'process-time',
  VIR_CONNECT_IDENTITY_SASL_USER_NAME: 'sasl-user-name',
  VIR_CONNECT_IDENTITY_SELINUX_CONTEXT: 'selinux-context',
  VIR_CONNECT_IDENTITY_UNIX_GROUP_ID: 'unix-group-id',
  VIR_CONNECT_IDENTITY_UNIX_USER_ID: 'unix-user-id',
  VIR_CONNECT_IDENTITY_USER_NAME: 'user-name',
  VIR_CONNECT_IDENTITY_X509_DISTINGUISHED_NAME: 'x509-distinguished-name',
  VIR_DOMAIN_BANDWIDTH_IN_AVERAGE: 'inbound.average',
  VIR_DOMAIN_BANDWIDTH_IN_BURST: 'inbound.burst',
  VIR_DOMAIN_BANDWIDTH_IN_FLOOR: 'inbound.floor',
  VIR_DOMAIN_BANDWIDTH_IN_PEAK: 'inbound.peak',
  VIR_DOMAIN_BANDWIDTH_OUT_AVERAGE: 'outbound.average',
  VIR_DOMAIN_BANDWIDTH_OUT_BURST: 'outbound.burst',
  VIR_DOMAIN_BANDWIDTH_OUT_PEAK: 'outbound.peak',
  VIR_DOMAIN_BLKIO_DEVICE_READ_BPS: 'device_read_bytes_sec',
  VIR_DOMAIN_BLKIO_DEVICE_READ_IOPS: 'device_read_iops_sec',
  VIR_DOMAIN_BLKIO_DEVICE_WEIGHT: 'device_weight',
  VIR_DOMAIN_BLKIO_DEVICE_WRITE_BPS: 'device_write_bytes_sec',
  VIR_DOMAIN_BLKIO_DEVICE_WRITE_IOPS: 'device_write_iops_sec',
  VIR_DOMAIN_BLKIO_WEIGHT: 'weight',
  VIR_DOMAIN_BLOCK_COPY_BANDWIDTH: 'bandwidth',
  VIR_DOMAIN_BLOCK_COPY_BUF_SIZE: 'buf-size',
  VIR_DOMAIN_BLOCK_COPY_GRANULARITY: 'granularity',
  VIR_DOMAIN_BLOCK_IOTUNE_GROUP_NAME: 'group_name',
  VIR_DOMAIN_BLOCK_IOTUNE_READ_BYTES_SEC: 'read_bytes_sec',
  VIR_DOMAIN_BLOCK_IOTUNE_READ_BYTES_SEC_MAX: 'read_bytes_sec_max',
  VIR_DOMAIN_BLOCK_IOTUNE_READ_BYTES_SEC_MAX_LENGTH: 'read_bytes_sec_max_length',
  VIR_DOMAIN_BLOCK_IOTUNE_READ_IOPS_SEC: 'read_iops_sec',
  VIR_DOMAIN_BLOCK_IOTUNE_READ_IOPS_SEC_MAX: 'read_iops_sec_max',
  VIR_DOMAIN_BLOCK_IOTUNE_READ_IOPS_SEC_MAX_LENGTH: 'read_iops_sec_max_length',
  VIR_DOMAIN_BLOCK_IOTUNE_SIZE_IOPS_SEC: 'size_iops_sec',
  VIR_DOMAIN_BLOCK_IOTUNE_TOTAL_BYTES_SEC: 'total_bytes_sec',
  VIR_DOMAIN_BLOCK_IOTUNE_TOTAL_BYTES_SEC_MAX: 'total_bytes_sec_max',
  VIR_DOMAIN_BLOCK_IOTUNE_TOTAL_BYTES_SEC_MAX_LENGTH: 'total_bytes_sec_max_length',
  VIR_DOMAIN_BLOCK_IOTUNE_TOTAL_IOPS_SEC: 'total_iops_sec',
  VIR_DOMAIN_BLOCK_IOTUNE_TOTAL_IOPS_SEC_MAX: 'total_iops_sec_max',
  VIR_DOMAIN_BLOCK_IOTUNE_TOTAL_IOPS_SEC_MAX_LENGTH: 'total_iops_sec_max_length',
  VIR_DOMAIN_BLOCK_IOTUNE_WRITE_BYTES_SEC: 'write_bytes_sec',
  VIR_DOMAIN_BLOCK_IOTUNE_WRITE_BYTES_SEC_MAX: 'write_bytes_sec_max',
  VIR_DOMAIN_BLOCK_IOTUNE_WRITE_BYTES_SEC_MAX_LENGTH: 'write_bytes_sec_max_length',
  VIR_DOMAIN_BLOCK_IOTUNE_WRITE_IOPS_SEC: 'write_iops_sec',
  VIR_DOMAIN_BLOCK_IOTUNE_WRITE_IOPS_SEC_MAX: 'write_iops_sec_max',
  VIR_DOMAIN_BLOCK_IOTUNE_WRITE_IOPS_SEC_MAX_LENGTH: 'write_iops_sec_max_length',
  VIR_DOMAIN_BLOCK_STATS_ERRS: 'errs',
  VIR_DOMAIN_BLOCK_STATS_FLUSH_REQ: 'flush_operations',
  VIR_DOMAIN_BLOCK_STATS_FLUSH_TOTAL_TIMES: 'flush_total_times',
  VIR_DOMAIN_BLOCK_STATS_READ_BYTES: 'rd_bytes',
  VIR_DOMAIN_BLOCK_STATS_READ_REQ: 'rd_operations',
  VIR_DOMAIN_BLOCK_STATS_READ_TOTAL_TIMES: 'rd_total_times',
  VIR_DOMAIN_BLOCK_STATS_WRITE_BYTES: 'wr_bytes',
  VIR_DOMAIN_BLOCK_STATS_WRITE_REQ: 'wr_operations',
  VIR_DOMAIN_BLOCK_STATS_WRITE_TOTAL_TIMES: 'wr_total_times',
  VIR_DOMAIN_CPU_STATS_CPUTIME: 'cpu_time',
  VIR_DOMAIN_CPU_STATS_SYSTEMTIME: 'system_time',
  VIR_DOMAIN_CPU_STATS_USERTIME: 'user_time',
  VIR_DOMAIN_CPU_STATS_VCPUTIME: 'vcpu_time',
  VIR_DOMAIN_IOTHREAD_POLL_GROW: 'poll_grow',
  VIR_DOMAIN_IOTHREAD_POLL_MAX_NS: 'poll_max_ns',
  VIR_DOMAIN_IOTHREAD_POLL_SHRINK: 'poll_shrink',
  VIR_DOMAIN_IOTHREAD_THREAD_POOL_MAX: 'thread_pool_max',
  VIR_DOMAIN_IOTHREAD_THREAD_POOL_MIN: 'thread_pool_min',
  VIR_DOMAIN_JOB_AUTO_CONVERGE_THROTTLE: 'auto_converge_throttle',
  VIR_DOMAIN_JOB_COMPRESSION_BYTES: 'compression_bytes',
  VIR_DOMAIN_JOB_COMPRESSION_CACHE: 'compression_cache',
  VIR_DOMAIN_JOB_COMPRESSION_CACHE_MISSES: 'compression_cache_misses',
  VIR_DOMAIN_JOB_COMPRESSION_OVERFLOW: 'compression_overflow',
  VIR_DOMAIN_JOB_COMPRESSION_PAGES: 'compression_pages',
  VIR_DOMAIN_JOB_DATA_PROCESSED: 'data_processed',
  VIR_DOMAIN_JOB_DATA_REMAINING: 'data_remaining',
  VIR_DOMAIN_JOB_DATA_TOTAL: 'data_total',
  VIR_DOMAIN_JOB_DISK_BPS: 'disk_bps',
  VIR_DOMAIN_JOB_DISK_PROCESSED: 'disk_processed',
  VIR_DOMAIN_JOB_DISK_REMAINING: 'disk_remaining',
  VIR_DOMAIN_JOB_DISK_TEMP_TOTAL: 'disk_temp_total',
  VIR_DOMAIN_JOB_DISK_TEMP_USED: 'disk_temp_used',
  VIR_DOMAIN_JOB_DISK_TOTAL: 'disk_total',
  VIR_DOMAIN_JOB_DOWNTIME: 'downtime',
  VIR_DOMAIN_JOB_DOWNTIME_NET: 'downtime_net',
  VIR_DOMAIN_JOB_ERRMSG: 'errmsg',
  VIR_DOMAIN_JOB_MEMORY_BPS: 'memory_bps',
  VIR_DOMAIN_JOB_MEMORY_CONSTANT: 'memory_constant',
  VIR_DOMAIN_JOB_MEMORY_DIRTY_RATE: 'memory_dirty_rate',
  VIR_DOMAIN_JOB_MEMORY_ITERATION: 'memory_iteration',
  VIR_DOMAIN_JOB_MEMORY_NORMAL: 'memory_normal',
  VIR_DOMAIN_JOB_MEMORY_NORMAL_BYTES: 'memory_normal_bytes',
  VIR_DOMAIN_JOB_MEMORY_PAGE_SIZE: 'memory_page_size',
  VIR_DOMAIN_JOB_MEMORY_POSTCOPY_REQS: 'memory_postcopy_requests',
  VIR_DOMAIN_JOB_MEMORY_PROCESSED: 'memory_processed',
  VIR_DOMAIN_JOB_MEMORY_REMAINING: 'memory_remaining',
  VIR_DOMAIN_JOB_MEMORY_TOTAL: 'memory_total',
  VIR_DOMAIN_JOB_OPERATION: 'operation',
  VIR_DOMAIN_JOB_SETUP_TIME: 'setup_time',
  VIR_DOMAIN_JOB_SUCCESS: 'success',
  VIR_DOMAIN_JOB_TIME_ELAPSED: 'time_elapsed',
  VIR_DOMAIN_JOB_TIME_ELAPSED_NET: 'time_elapsed_net',
  VIR_DOMAIN_JOB_TIME_REMAINING: 'time_remaining',
  VIR_DOMAIN_LAUNCH_SECURITY_SEV_API_MAJOR: 'sev-api-major',
  VIR_DOMAIN_LAUNCH_SECURITY_SEV_API_MINOR: 'sev-api-minor',
  VIR_DOMAIN_LAUNCH_SECURITY_SEV_BUILD_ID: 'sev-build-id',
  VIR_DOMAIN_LAUNCH_SECURITY_SEV_MEASUREMENT: 'sev-measurement',
  VIR_DOMAIN_LAUNCH_SECURITY_SEV_POLICY: 'sev-policy',
  VIR_DOMAIN_LAUNCH_SECURITY_SEV_SECRET: 'sev-secret',
  VIR_DOMAIN_LAUNCH_SECURITY_SEV_SECRET_HEADER: 'sev-secret-header',
  VIR_DOMAIN_LAUNCH_SECURITY_SEV_SECRET_SET_ADDRESS: 'sev-secret-set-address',
  VIR_DOMAIN_MEMORY_HARD_LIMIT: 'hard_limit',
  VIR_DOMAIN_MEMORY_MIN_GUARANTEE: 'min_guarantee',
  VIR_DOMAIN_MEMORY_SOFT_LIMIT: 'soft_limit',
  VIR_DOMAIN_MEMORY_SWAP_HARD_LIMIT: 'swap_hard_limit',
  VIR_DOMAIN_NUMA_MODE: 'numa_mode',
  VIR_DOMAIN_NUMA_NODESET: 'numa_nodeset',
  VIR_DOMAIN_SAVE_PARAM_DXML: 'dxml',
  VIR_DOMAIN_SAVE_PARAM_FILE: 'file',
  VIR_DOMAIN_SCHEDULER_CAP: 'cap',
  VIR_DOMAIN_SCHEDULER_CPU_SHARES: 'cpu_shares',
  VIR_DOMAIN_SCHEDULER_EMULATOR_PERIOD: 'emulator_period',
  VIR_DOMAIN_SCHEDULER_EMULATOR_QUOTA: 'emulator_quota',
  VIR_DOMAIN_SCHEDULER_GLOBAL_PERIOD: 'global_period',
  VIR_DOMAIN_SCHEDULER_GLOBAL_QUOTA: 'global_quota',
  VIR_DOMAIN_SCHEDULER_IOTHREAD_PERIOD: 'iothread_period',
  VIR_DOMAIN_SCHEDULER_IOTHREAD_QUOTA: 'iothread_quota',
  VIR_DOMAIN_SCHEDULER_LIMIT: 'limit',
  VIR_DOMAIN_SCHEDULER_RESERVATION: 'reservation',
  VIR_DOMAIN_SCHEDULER_SHARES: 'shares',
  VIR_DOMAIN_SCHEDULER_VCPU_PERIOD: 'vcpu_period',
  VIR_DOMAIN_SCHEDULER_VCPU_QUOTA: 'vcpu_quota',
  VIR_DOMAIN_SCHEDULER_WEIGHT: 'weight',
  VIR_DOMAIN_TUNABLE_BLKDEV_DISK: 'blkdeviotune.disk',
  VIR_DOMAIN_TUNABLE_BLKDEV_GROUP_NAME: 'blkdeviotune.group_name',
  VIR_DOMAIN_TUNABLE_BLKDEV_READ_BYTES_SEC: 'blkdeviotune.read_bytes_sec',
  VIR_DOMAIN_TUNABLE_BLKDEV_READ_BYTES_SEC_MAX: 'blkdeviotune.read_bytes_sec_max',
  VIR_DOMAIN_TUNABLE_BLKDEV_READ_BYTES_SEC_MAX_LENGTH: 'blkdeviotune.read_bytes_sec_max_length',
  VIR_DOMAIN_TUNABLE_BLKDEV_READ_IOPS_SEC: 'blkdeviotune.read_iops_sec',
  VIR_DOMAIN_TUNABLE_BLKDEV_READ_IOPS_SEC_MAX: 'blkdeviotune.read_iops_sec_max',
  VIR_DOMAIN_TUNABLE_BLKDEV_READ_IOPS_SEC_MAX_LENGTH: 'blkdeviotune.read_iops_sec_max_length',
  VIR_DOMAIN_TUNABLE_BLKDEV_SIZE_IOPS_SEC: 'blkdeviotune.size_iops_sec',
  VIR_DOMAIN_TUNABLE_BLKDEV_TOTAL_BYTES_SEC: 'blkdeviotune.total_bytes_sec',
  VIR_DOMAIN_TUNABLE_BLKDEV_TOTAL_BYTES_SEC_MAX: 'blkdeviotune.total_bytes_sec_max',
  VIR_DOMAIN_TUNABLE_BLKDEV_TOTAL_BYTES_SEC_MAX_LENGTH: 'blkdeviotune.total_bytes_sec_max_length',
  VIR_DOMAIN_TUNABLE_BLKDEV_TOTAL_IOPS_SEC: 'blkdeviotune.total_iops_sec',
  VIR_DOMAIN_TUNABLE_BLKDEV_TOTAL_IOPS_SEC_MAX: 'blkdeviotune.total_iops_sec_max',
  VIR_DOMAIN_TUNABLE_BLKDEV_TOTAL_IOPS_SEC_MAX_LENGTH: 'blkdeviotune.total_iops_sec_max_length',
  VIR_DOMAIN_TUNABLE_BLKDEV_WRITE_BYTES_SEC: 'blkdeviotune.write_bytes_sec',
  VIR_DOMAIN_TUNABLE_BLKDEV_WRITE_BYTES_SEC_MAX: 'blkdeviotune.write_bytes_sec_max',
  VIR_DOMAIN_TUNABLE_BLKDEV_WRITE_BYTES_SEC_MAX_LENGTH: 'blkdeviotune.write_bytes_sec_max_length',
  VIR_DOMAIN_TUNABLE_BLKDEV_WRITE_IOPS_SEC: 'blkdeviotune.write_iops_sec',
  VIR_DOMAIN_TUNABLE_BLKDEV_WRITE_IOPS_SEC_MAX: 'blkdeviotune.write_iops_sec_max',
  VIR_DOMAIN_TUNABLE_BLKDEV_WRITE_IOPS_SEC_MAX_LENGTH: 'blkdeviotune.write_iops_sec_max_length',
  VIR_DOMAIN_TUNABLE_CPU_CPU_SHARES: 'cputune.cpu_shares',
  VIR_DOMAIN_TUNABLE_CPU_EMULATOR_PERIOD: 'cputune.emulator_period',
  VIR_DOMAIN_TUNABLE_CPU_EMULATOR_QUOTA: 'cputune.emulator_quota',
  VIR_DOMAIN_TUNABLE_CPU_EMULATORPIN: 'cputune.emulatorpin',
  VIR_DOMAIN_TUNABLE_CPU_GLOBAL_PERIOD: 'cputune.global_period',
  VIR_DOMAIN_TUNABLE_CPU_GLOBAL_QUOTA: 'cputune.global_quota',
  VIR_DOMAIN_TUNABLE_CPU_IOTHREAD_PERIOD: 'cputune.iothread_period',
  VIR_DOMAIN_TUNABLE_CPU_IOTHREAD_QUOTA: 'cputune.iothread_quota',
  VIR_DOMAIN_TUNABLE_CPU_IOTHREADSPIN: 'cputune.iothreadpin%u',
  VIR_DOMAIN_TUNABLE_CPU_VCPU_PERIOD: 'cputune.vcpu_period',
  VIR_DOMAIN_TUNABLE_CPU_VCPU_QUOTA: 'cputune.vcpu_quota',
  VIR_DOMAIN_TUNABLE_CPU_VCPUPIN: 'cputune.vcpupin%u',
  VIR_MIGRATE_PARAM_AUTO_CONVERGE_INCREMENT: 'auto_converge.increment',
  VIR_MIGRATE_PARAM_AUTO_CONVERGE_INITIAL: 'auto_converge.initial',
  VIR_MIGRATE_PARAM_BANDWIDTH: 'bandwidth',
  VIR_MIGRATE_PARAM_BANDWIDTH_POSTCOPY: 'bandwidth.postcopy',
  VIR_MIGRATE_PARAM_COMPRESSION: 'compression',
  VIR_MIGRATE_PARAM_COMPRESSION_MT_DTHREADS: 'compression.mt.dthreads',
  VIR_MIGRATE_PARAM_COMPRESSION_MT_LEVEL: 'compression.mt.level',
  VIR_MIGRATE_PARAM_COMPRESSION_MT_THREADS: 'compression.mt.threads',
  VIR_MIGRATE_PARAM_COMPRESSION_XBZRLE_CACHE: 'compression.xbzrle.cache',
  VIR_MIGRATE_PARAM_DEST_NAME: 'destination_name',
  VIR_MIGRATE_PARAM_DEST_XML: 'destination_xml',
  VIR_MIGRATE_PARAM_DISKS_PORT: 'disks_port',
  VIR_MIGRATE_PARAM_DISKS_URI: 'disks_uri',
  VIR_MIGRATE_PARAM_GRAPHICS_URI: 'graphics_uri',
  VIR_MIGRATE_PARAM_LISTEN_ADDRESS: 'listen_address',
  VIR_MIGRATE_PARAM_MIGRATE_DISKS: 'migrate_disks',
  VIR_MIGRATE_PARAM_PARALLEL_CONNECTIONS: 'parallel.connections',
  VIR_MIGRATE_PARAM_PERSIST_XML: 'persistent_xml',
  VIR_MIGRATE_PARAM_TLS_DESTINATION: 'tls.destination',
  VIR_MIGRATE_PARAM_URI: 'migrate_uri',
  VIR_NETWORK_PORT_BANDWIDTH_IN_AVERAGE: 'inbound.average',
  VIR_NETWORK_PORT_BANDWIDTH_IN_BURST: 'inbound.burst',
  VIR_NETWORK_PORT_BANDWIDTH_IN_FLOOR: 'inbound.floor',
  VIR_NETWORK_PORT_BANDWIDTH_IN_PEAK: 'inbound.peak',
  VIR_NETWORK_PORT_BANDWIDTH_OUT_AVERAGE: 'outbound.average',
  VIR_NETWORK_PORT_BANDWIDTH_OUT_BURST: 'outbound.burst',
  VIR_NETWORK_PORT_BANDWIDTH_OUT_PEAK: 'outbound.peak',
  VIR_NODE_CPU_STATS_IDLE: 'idle',
  VIR_NODE_CPU_STATS_INTR: 'intr',
  VIR_NODE_CPU_STATS_IOWAIT: 'iowait',
  VIR_NODE_CPU_STATS_KERNEL: 'kernel',
  VIR_NODE_CPU_STATS_USER: 'user',
  VIR_NODE_CPU_STATS_UTILIZATION: 'utilization',
  VIR_NODE_MEMORY_SHARED_FULL_SCANS: 'shm_full_scans',
  VIR_NODE_MEMORY_SHARED_MERGE_ACROSS_NODES: 'shm_merge_across_nodes',
  VIR_NODE_MEMORY_SHARED_PAGES_SHARED: 'shm_pages_shared',
  VIR_NODE_MEMORY_SHARED_PAGES_SHARING: 'shm_pages_sharing',
  VIR_NODE_MEMORY_SHARED_PAGES_TO_SCAN: 'shm_pages_to_scan',
  VIR_NODE_MEMORY_SHARED_PAGES_UNSHARED: 'shm_pages_unshared',
  VIR_NODE_MEMORY_SHARED_PAGES_VOLATILE: 'shm_pages_volatile',
  VIR_NODE_MEMORY_SHARED_SLEEP_MILLISECS: 'shm_sleep_millisecs',
  VIR_NODE_MEMORY_STATS_BUFFERS: 'buffers',
  VIR_NODE_MEMORY_STATS_CACHED: 'cached',
  VIR_NODE_MEMORY_STATS_FREE: 'free',
  VIR_NODE_MEMORY_STATS_TOTAL: 'total',
  VIR_NODE_SEV_CBITPOS: 'cbitpos',
  VIR_NODE_SEV_CERT_CHAIN: 'cert-chain',
  VIR_NODE_SEV_CPU0_ID: 'cpu0-id',
  VIR_NODE_SEV_MAX_ES_GUESTS: 'max-es-guests',
  VIR_NODE_SEV_MAX_GUESTS: 'max-guests',
  VIR_NODE_SEV_PDH: 'pdh',
  VIR_NODE_SEV_REDUCED_PHYS_BITS: 'reduced-phys-bits',
  VIR_PERF_PARAM_ALIGNMENT_FAULTS: 'alignment_faults',
  VIR_PERF_PARAM_BRANCH_INSTRUCTIONS: 'branch_instructions',
  VIR_PERF_PARAM_BRANCH_MISSES: 'branch_misses',
  VIR_PERF_PARAM_BUS_CYCLES: 'bus_cycles',
  VIR_PERF_PARAM_CACHE_MISSES: 'cache_misses',
  VIR_PERF_PARAM_CACHE_REFERENCES: 'cache_references',
  VIR_PERF_PARAM_CMT: 'cmt',
  VIR_PERF_PARAM_CONTEXT_SWITCHES: 'context_switches',
  VIR_PERF_PARAM_CPU_CLOCK: 'cpu_clock',
  VIR_PERF_PARAM_CPU_CYCLES: 'cpu_cycles',
  VIR_PERF_PARAM_CPU_MIGRATIONS: 'cpu_migrations',
  VIR_PERF_PARAM_EMULATION_FAULTS: 'emulation_faults',
  VIR_PERF_PARAM_INSTRUCTIONS: 'instructions',
  VIR_PERF_PARAM_MBML: 'mbml',
  VIR_PERF_PARAM_MBMT: 'mbmt',
  VIR_PERF_PARAM_PAGE_FAULTS: 'page_faults',
  VIR_PERF_PARAM_PAGE_FAULTS_MAJ: 'page_faults_maj',
  VIR_PERF_PARAM_PAGE_FAULTS_MIN: 'page_faults_min',
  VIR_PERF_PARAM_REF_CPU_CYCLES: 'ref_cpu_cycles',
  VIR_PERF_PARAM_STALLED_CYCLES_BACKEND: 'stalled_cycles_backend',
  VIR_PERF_PARAM_STALLED_CYCLES_FRONTEND: 'stalled_cycles_frontend',
  VIR_PERF_PARAM_TASK_CLOCK: 'task_clock',
} as const;

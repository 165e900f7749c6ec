// Public surface of the libvirt binding: typed, promise-based facade over the native addon.
export * from './constants.generated';
export { Checkpoint } from './checkpoint';
export {
  Connection,
  wrappedFunctions,
  type BlockJobEvent,
  type DomainCapabilitiesQuery,
  type DomainEventKind,
  type DomainEventMap,
  type DomainRef,
  type JobCompletedEvent,
  type LifecycleEvent,
  type OpenOptions,
  type Unsubscribe,
} from './connection';
export {
  Domain,
  QmpError,
  type BlockInfo,
  type BlockJobInfo,
  type DomainInfo,
  type DomainState,
  type JobStats,
  type TypedParams,
} from './domain';
export {
  LibvirtError,
  fromNative,
  isFreedHandle,
  isLibvirtError,
  isLibvirtNotFound,
  type LibvirtErrorCodeName,
  type LibvirtErrorDomainName,
} from './errors';
export { LibvirtObject } from './handle';
export {
  bindingCandidates,
  loadBinding,
  type NativeBinding,
  type NativeDomainEvent,
  type NativeHandle,
} from './native';
export { Secret, secretUsageType, type SecretUsageType } from './secret';
export {
  StoragePool,
  StorageVolume,
  type StoragePoolInfo,
  type StorageVolumeInfo,
  type VolumeContent,
} from './storage';
export {
  DEFAULT_CHUNK_SIZE,
  VolumeReadStream,
  VolumeWriteStream,
  downloadToFile,
  splitHoles,
  uploadFromFile,
  type FileTransferResult,
  type SparseChunk,
  type TransferOptions,
} from './streams';

// Test helpers shared by integration and system tests (names, cleanup, domain XML, libvirt setup).
export { Cleanup } from './cleanup';
export {
  buildDomainXml,
  chooseVirtType,
  type TestDisk,
  type TestDomainOptions,
  type VirtChoice,
} from './domain-xml';
export {
  SYSTEM_URI,
  TEST_POOL_ROOT,
  createDirPool,
  createVolume,
  openSystemConnection,
  volumeXml,
  type TestDirPool,
} from './libvirt';
export { TEST_PREFIX, uniqueName } from './names';
export { createRemoteDirPool, createRemoteDomain, type RemoteDomain } from './remote-domain';
export {
  createTestDomain,
  sameContent,
  writePattern,
  type TestDomain,
  type TestDomainDisk,
} from './test-domain';
export { backupLocation, poolVolumeNames } from './backup-location';
export { REPO_ROOT, tsChildArgs, tsScriptArgs } from './ts-child';
export { killBackupMidCopy, spawnBackupChild, type BackupChildOptions } from './backup-child';
export { qemuBitmaps, qemuLeftovers } from './qemu-objects';
export {
  TESTHOST_DIR_POOL,
  TESTHOST_FIX,
  TESTHOST_VG,
  mirrorPoolOnTestHost,
  openTestHost,
  testHost,
  testHostSshUri,
  testHostTunnel,
  testHostUri,
} from './testhost';
export {
  SECONDHOST_FIX,
  host2Environment,
  openSecondHost,
  runAsHost2,
  secondHost,
  secondHostEnv,
  secondHostUri,
  volbackAsHost2,
  type CliRun,
  type SecondHostEnv,
} from './second-host';
export { defineVolumeSecret, holdsPattern, setSecretValue, virshSystem } from './secrets';
export { captureDebugLog } from './debug-log';

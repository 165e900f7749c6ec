// src/xml's public surface: parse, validate and format volback's two documents. xml2js stays inside.
export { parseBackupDefinition, formatBackupDefinition } from './backup-definition';
export {
  parseBackupSet,
  parseBackupSets,
  formatBackupSet,
  renderBackupSet,
  BACKUP_SET_FORMAT_VERSION,
  type BackupSetResult,
} from './backup-metadata';
export {
  validateXml,
  assertValidXml,
  validateMany,
  checkValidator,
  resolveSchemaDir,
  schemaFile,
  type SchemaName,
  type ValidationResult,
  type ValidatorOptions,
  type BatchOptions,
  type XmlDiagnostic,
} from './validate';
export {
  applyRestorePolicy,
  RESTORE_ALLOWANCES,
  type RestoreAllowance,
  type RestorePolicyOptions,
  type RestorePolicyResult,
  type PolicyFinding,
} from './restore-policy';
export * as names from './names';

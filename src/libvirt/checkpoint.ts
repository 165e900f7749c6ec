// Checkpoint: a domain checkpoint handle (persistent dirty bitmaps for incremental backup).
import { isLibvirtError } from './errors';
import { invoke, LibvirtObject } from './handle';
import type { NativeHandle } from './native';

export class Checkpoint extends LibvirtObject {
  /** @internal */
  constructor(handle: NativeHandle, label = '') {
    super(handle, label);
  }

  getName(): Promise<string> {
    return invoke('virDomainCheckpointGetName', { checkpoint: this.label }, (n) =>
      n.domainCheckpointGetName(this.handle),
    );
  }

  /** flags: virDomainCheckpointXMLFlags (SECURE, NO_DOMAIN, SIZE). */
  getXMLDesc(flags = 0): Promise<string> {
    return invoke('virDomainCheckpointGetXMLDesc', { checkpoint: this.label, flags }, (n) =>
      n.domainCheckpointGetXMLDesc(this.handle, flags),
    );
  }

  /**
   * flags: virDomainCheckpointDeleteFlags (CHILDREN, METADATA_ONLY, CHILDREN_ONLY).
   * The handle stays allocated; free() it afterwards.
   */
  delete(flags = 0): Promise<void> {
    return invoke('virDomainCheckpointDelete', { checkpoint: this.label, flags }, (n) =>
      n.domainCheckpointDelete(this.handle, flags),
    );
  }

  /** The parent checkpoint, or null for a root (libvirt's VIR_ERR_NO_DOMAIN_CHECKPOINT). */
  async getParent(): Promise<Checkpoint | null> {
    try {
      const h = await invoke('virDomainCheckpointGetParent', { checkpoint: this.label }, (n) =>
        n.domainCheckpointGetParent(this.handle),
      );
      return new Checkpoint(h);
    } catch (err) {
      if (isLibvirtError(err, 'VIR_ERR_NO_DOMAIN_CHECKPOINT')) return null;
      throw err;
    }
  }

  /** flags: virDomainCheckpointListFlags (DESCENDANTS, TOPOLOGICAL, LEAVES, NO_LEAVES). */
  async listAllChildren(flags = 0): Promise<Checkpoint[]> {
    const hs = await invoke('virDomainCheckpointListAllChildren', { checkpoint: this.label, flags }, (n) =>
      n.domainCheckpointListAllChildren(this.handle, flags),
    );
    return hs.map((h) => new Checkpoint(h));
  }
}

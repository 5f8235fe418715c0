// The emulator's "@cloudflare/sandbox": Sandbox adds no egress API of its own (contract §1.9). getSandbox
// checks the id as the SDK does (its SandboxSecurityError texts, verbatim) and returns the namespace's stub,
// whose exec/readFile/writeFile/gitCheckout the emulator serves (js/bindings/durable-objects.js).
import { Container, ContainerProxy as BaseContainerProxy, getContainer } from "./containers.js";

export class Sandbox extends Container {}

export class ContainerProxy extends BaseContainerProxy {}

export class SandboxSecurityError extends Error {
  constructor(message, code) {
    super(message);
    this.name = "SandboxSecurityError";
    this.code = code;
  }
}

// Ids become preview-URL host names in production, hence the DNS rules.
const RESERVED_IDS = new Set(["www", "api", "admin", "root", "system", "cloudflare", "workers"]);

function checkSandboxId(id) {
  if (!id || id.length > 63) {
    throw new SandboxSecurityError("Sandbox ID must be 1-63 characters long.", "INVALID_SANDBOX_ID_LENGTH");
  }
  if (id.startsWith("-") || id.endsWith("-")) {
    throw new SandboxSecurityError(
      "Sandbox ID cannot start or end with hyphens (DNS requirement).",
      "INVALID_SANDBOX_ID_HYPHENS",
    );
  }
  if (RESERVED_IDS.has(id.toLowerCase())) {
    throw new SandboxSecurityError(`Reserved sandbox ID '${id}' is not allowed.`, "RESERVED_SANDBOX_ID");
  }
  return id;
}

// `options.normalizeId` lower-cases the id (a different sandbox than the mixed-case one, as in production);
// the SDK's other options (sleepAfter, keepAlive, containerTimeouts, …) configure a container the emulator
// does not run, and are accepted without effect.
export function getSandbox(ns, id, options = undefined) {
  const checked = checkSandboxId(id);
  return getContainer(ns, options?.normalizeId ? checked.toLowerCase() : checked);
}

export const sandboxModule = {
  Sandbox,
  ContainerProxy,
  SandboxSecurityError,
  getSandbox,
  proxyToSandbox: async () => null,
};

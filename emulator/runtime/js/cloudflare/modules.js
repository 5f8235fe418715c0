// What `import … from "@cloudflare/sandbox"` resolves to in a bundle: esbuild leaves these three imports
// external and the bundle calls the `require` the runtime passes in.
import { containersModule } from "./containers.js";
import { sandboxModule } from "./sandbox.js";
import { workersModule } from "./workers.js";

const MODULES = {
  "@cloudflare/containers": containersModule,
  "@cloudflare/sandbox": sandboxModule,
  "cloudflare:workers": workersModule,
};

export const EXTERNAL_MODULES = Object.keys(MODULES);

export function requireModule(specifier) {
  const module = MODULES[specifier];
  if (module === undefined) {
    throw new Error(`Cannot find module "${specifier}": outbound provides only ${EXTERNAL_MODULES.join(", ")} to handlers`);
  }
  return module;
}

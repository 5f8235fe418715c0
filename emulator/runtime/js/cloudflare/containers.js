// The emulator's "@cloudflare/containers": the egress half of the Container class, reproduced from
// @cloudflare/containers 0.3.x as the contract (§1.3–§1.10) describes it. The decision procedure itself runs in
// Python (emulator/decide.py); this module keeps the class-level registries that user code writes to and
// answers the emulator's questions about them.
import { DurableObject, WorkerEntrypoint } from "./workers.js";

// Module-level registries keyed by class *name* (contract §1.3): a subclass does not inherit its parent's
// handlers, and two classes with one name share an entry, exactly as in production.
const outboundHandlersRegistry = new Map();
const defaultOutboundHandlerNameRegistry = new Map();
const outboundByHostRegistry = new Map();

export const OUTBOUND_CATCH_ALL = "__outbound__";

export class Container extends DurableObject {
  defaultPort = undefined;
  requiredPorts = undefined;
  sleepAfter = "10m";
  envVars = {};
  entrypoint = undefined;
  enableInternet = true;
  interceptHttps = false;
  allowedHosts = undefined;
  deniedHosts = undefined;

  constructor(ctx, env, options = undefined) {
    super(ctx, env);
    if (options !== undefined) {
      for (const key of ["defaultPort", "sleepAfter", "enableInternet", "envVars", "entrypoint"]) {
        if (options[key] !== undefined) this[key] = options[key];
      }
    }
  }

  static get outboundByHost() {
    return outboundByHostRegistry.get(this.name);
  }

  static set outboundByHost(handlers) {
    outboundByHostRegistry.set(this.name, handlers);
  }

  static get outboundHandlers() {
    return outboundHandlersRegistry.get(this.name);
  }

  static set outboundHandlers(handlers) {
    outboundHandlersRegistry.set(this.name, { ...(outboundHandlersRegistry.get(this.name) ?? {}), ...handlers });
  }

  static get outbound() {
    return outboundHandlersRegistry.get(this.name)?.[OUTBOUND_CATCH_ALL];
  }

  static set outbound(handler) {
    this.outboundHandlers = { [OUTBOUND_CATCH_ALL]: handler };
    defaultOutboundHandlerNameRegistry.set(this.name, OUTBOUND_CATCH_ALL);
  }

  // Deprecated aliases kept by 0.3.x.
  static get outboundProxies() {
    return this.outboundHandlers;
  }

  static set outboundProxies(handlers) {
    this.outboundHandlers = handlers;
  }

  static get outboundProxy() {
    return this.outbound;
  }

  static set outboundProxy(handler) {
    this.outbound = handler;
  }
}

// Required wiring (contract §1.1): production builds the interception target from this export.
export class ContainerProxy extends WorkerEntrypoint {}

export function outboundParams(_handler, params) {
  return params;
}

export function isContainerClass(value) {
  return typeof value === "function" && (value === Container || value.prototype instanceof Container);
}

// What the registries hold for one class name; undefined where nothing was ever assigned.
export function registryFor(className) {
  return {
    handlers: outboundHandlersRegistry.get(className),
    byHost: outboundByHostRegistry.get(className),
    defaultHandler: defaultOutboundHandlerNameRegistry.get(className),
  };
}

const STATIC_FIELDS = ["outboundByHost", "outboundHandlers", "outbound", "outboundProxies", "outboundProxy"];

// `static outbound = fn` inside a class body defines an own data property that shadows the accessor above,
// so production never registers it (cloudflare/containers#247). The emulator accepts it (re-assigning
// through the accessor) and reports each one, so the user can fix it before deploying.
export function adoptStaticFields(cls) {
  const adopted = [];
  for (const field of STATIC_FIELDS) {
    const descriptor = Object.getOwnPropertyDescriptor(cls, field);
    if (descriptor === undefined || !("value" in descriptor)) continue;
    delete cls[field];
    if (descriptor.value !== undefined) cls[field] = descriptor.value;
    adopted.push(field);
  }
  return adopted;
}

// @cloudflare/containers utils.js: the name getContainer uses when given none.
export const SINGLETON_CONTAINER_ID = "cf-singleton-container";

// A stub for the container named `name` of the namespace `binding` (env.<binding> of a durable_objects entry).
export function getContainer(binding, name = SINGLETON_CONTAINER_ID) {
  return binding.get(binding.idFromName(name));
}

// One of `instances` containers named instance-0 … instance-<n-1>, picked at random (utils.js getRandom).
export async function getRandom(binding, instances = 3) {
  return getContainer(binding, `instance-${Math.floor(Math.random() * instances)}`);
}

// The deprecated name of getRandom, with the package's warning.
async function loadBalance(binding, instances = 3) {
  console.warn("loadBalance is deprecated, please use getRandom instead. This will be removed in a future version.");
  return getRandom(binding, instances);
}

export const containersModule = {
  Container,
  ContainerProxy,
  outboundParams,
  getContainer,
  getRandom,
  loadBalance,
  switchPort: (request, port) => {
    const copy = new Request(request);
    copy.headers.set("cf-container-target-port", String(port));
    return copy;
  },
};

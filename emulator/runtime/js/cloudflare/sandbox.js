// The emulator's "@cloudflare/sandbox": Sandbox adds no egress API of its own (contract §1.9).
import { Container, ContainerProxy as BaseContainerProxy, containersModule } from "./containers.js";

export class Sandbox extends Container {}

export class ContainerProxy extends BaseContainerProxy {}

export const sandboxModule = {
  Sandbox,
  ContainerProxy,
  getSandbox: containersModule.getContainer,
  proxyToSandbox: async () => null,
};

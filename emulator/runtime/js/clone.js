// structuredClone (HTML "StructuredSerialize/Deserialize" for the types Workers supports).
export function structuredClone(value, options = undefined) {
  throw new TypeError("structuredClone() is not implemented yet");
}

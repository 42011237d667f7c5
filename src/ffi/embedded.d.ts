// `import x from "./file.so" with { type: "file" }` yields a path: the file in
// the source tree under `bun run`, an embedded /$bunfs/... path once compiled.
declare module "*.so" {
  const path: string;
  export default path;
}
declare module "*.o" {
  const path: string;
  export default path;
}

// `import x from "./file.toml" with { type: "text" }` yields the file's text,
// embedded in the executable by `bun build --compile`.
declare module "*.toml" {
  const text: string;
  export default text;
}

// Vite's URL import of a separately bundled worker script.
declare module '*?worker&url' {
  const url: string;
  export default url;
}

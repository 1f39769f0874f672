const m = globalThis.__calmWebgpuBackend; export const WebGPUBackend = m.WebGPUBackend; export default m;

import { fileURLToPath } from 'node:url';
import { definePackageProject } from '../../vitest.shared';

export default definePackageProject(fileURLToPath(new URL('.', import.meta.url)));

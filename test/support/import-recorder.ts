/** `node --import` this file to record every module a process resolves (see import-recorder-hooks.ts). */
import { register } from 'node:module';

register('./import-recorder-hooks.js', import.meta.url);

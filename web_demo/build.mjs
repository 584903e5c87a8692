#!/usr/bin/env node
// The web side's build step (run by `npm ci` through the postinstall script, and by `npm run build`):
//
// 1. vendor/: TF.js and its wasm backend as the page loads them (browser bundles and the three .wasm
//    binaries), copied from node_modules with their licence, so a built site needs no CDN and the
//    Python wheel carries them (no node_modules at run time).
// 2. vendor/run_model.node.mjs: the Node runner (node/run_model.mjs, which runs models through
//    src/model.js) bundled with @tensorflow/tfjs and the wasm backend into one file by esbuild, so an
//    installed yamnet-tfjs needs only `node` on PATH for Node parity. In a checkout, where node_modules
//    exists, the Python side runs node/run_model.mjs itself (always the current sources).
//
// Idempotent; a few hundred milliseconds.
import fs from 'node:fs';
import path from 'node:path';
import {createRequire} from 'node:module';
import {fileURLToPath} from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const vendor = path.join(here, 'vendor');

/** site name -> package-relative path; the same list as pipeline/js/assets.py TFJS_FILES. */
const FILES = {
  'tf.min.js': '@tensorflow/tfjs/dist/tf.min.js',
  'tf-backend-wasm.min.js': '@tensorflow/tfjs-backend-wasm/dist/tf-backend-wasm.min.js',
  'tfjs-backend-wasm.wasm': '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm',
  'tfjs-backend-wasm-simd.wasm': '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm',
  'tfjs-backend-wasm-threaded-simd.wasm': '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm',
};

function packageInfo(name) {
  return JSON.parse(fs.readFileSync(require.resolve(`${name}/package.json`), 'utf8'));
}

function licenceHeader(file) {
  const text = fs.readFileSync(file, 'utf8').slice(0, 4000);
  const match = text.match(/\/\*\*?\s*\n?\s*\*?\s*@license[\s\S]*?\*\//);
  return match ? match[0] : '';
}

function copyVendor() {
  fs.mkdirSync(vendor, {recursive: true});
  const notices = [
    '# Third-party files in this folder',
    '',
    'Copied from npm packages by web_demo/build.mjs; each package is licensed under its own terms.',
    '',
  ];
  for (const [name, rel] of Object.entries(FILES)) {
    const source = require.resolve(rel);
    fs.copyFileSync(source, path.join(vendor, name));
  }
  for (const pkg of ['@tensorflow/tfjs', '@tensorflow/tfjs-backend-wasm']) {
    const info = packageInfo(pkg);
    const files = Object.entries(FILES).filter(([, rel]) => rel.startsWith(`${pkg}/`)).map(([name]) => name);
    notices.push(`## ${pkg} ${info.version} (${info.license}): ${files.join(', ')}`, '');
    notices.push('Homepage: ' + (info.homepage ?? info.repository?.url ?? 'https://github.com/tensorflow/tfjs'), '');
    const header = licenceHeader(require.resolve(FILES[files.find((f) => f.endsWith('.js'))]));
    if (header) notices.push('```', header, '```', '');
    notices.push(`The ${info.license} licence: https://www.apache.org/licenses/LICENSE-2.0`, '');
  }
  fs.writeFileSync(path.join(vendor, 'LICENSES.md'), notices.join('\n'));
}

async function bundleNodeRunner() {
  const esbuild = await import('esbuild');
  await esbuild.build({
    entryPoints: [path.join(here, 'node', 'run_model.mjs')],
    outfile: path.join(vendor, 'run_model.node.mjs'),
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node18',
    // The bundled CommonJS code of TF.js calls require() for Node built-ins and reads __dirname (the wasm
    // backend's loader): give the ES module both.
    banner: {
      js: [
        "import {createRequire as __yt_createRequire} from 'node:module';",
        "import {fileURLToPath as __yt_fileURLToPath} from 'node:url';",
        "import {dirname as __yt_dirname} from 'node:path';",
        'const require = __yt_createRequire(import.meta.url);',
        'const __filename = __yt_fileURLToPath(import.meta.url);',
        'const __dirname = __yt_dirname(__filename);',
      ].join('\n'),
    },
    logLevel: 'warning',
    legalComments: 'eof',
  });
}

copyVendor();
await bundleNodeRunner();
console.log(`web_demo/build.mjs: wrote ${path.relative(process.cwd(), vendor) || vendor}/`);

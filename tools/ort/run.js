#!/usr/bin/env node
// ONNX Runtime (CPU) runner used by onnxtune's Go tests as a second runtime.
//
//   node tools/ort/run.js MODEL.onnx OUTDIR [NAME=FILE.npy ...] [--bench N] [--threads T]
//                         [--opt disabled|basic|extended|all]
//
// Reads every input from a .npy file (NAME= may be omitted when the model has one input), runs
// the model once, writes each output to OUTDIR/<output name>.npy and prints one JSON line:
//   {"outputs": {"logits": {"dims": [2, 10], "type": "float32"}}, "inputs": {...}}
// An output name that is not a safe file name (outside [A-Za-z0-9._-], e.g. PyTorch's
// "/conv1/Conv_output_0") is written with those characters replaced by "_", and its entry gets
// "file": "<the file name used>".
// With --bench N, after one warm-up run it times N more runs and adds
//   "ms": {"n": N, "min": ..., "median": ..., "mean": ...} and "peak_rss_bytes", the peak
//   resident set of the whole node process.
// --threads T sets intraOpNumThreads (default: ORT's choice). --opt sets
// graphOptimizationLevel (default "all").
// On any error it prints one line "ort: <message>" to stderr and exits 1.
//
// Set up once with: (cd tools/ort && npm ci --ignore-scripts)
'use strict';

const fs = require('fs');
const path = require('path');

class UsageError extends Error {}

function fail(msg) {
  throw new Error(msg);
}

// ---------------------------------------------------------------------------------------------
// NPY reader/writer: format versions 1.0, 2.0 (and 3.0), C order, little-endian only.

// descr -> [ort tensor type, typed array constructor, element size]
const DESCR = {
  '<f4': ['float32', Float32Array, 4],
  '<f8': ['float64', Float64Array, 8],
  '<i8': ['int64', BigInt64Array, 8],
  '<i4': ['int32', Int32Array, 4],
  '|u1': ['uint8', Uint8Array, 1],
  '|b1': ['bool', Uint8Array, 1],
};

// ort tensor type -> npy descr, for writing outputs.
const TYPE_DESCR = {
  float32: '<f4',
  float64: '<f8',
  float16: '<f2',
  int64: '<i8',
  int32: '<i4',
  int16: '<i2',
  int8: '|i1',
  uint64: '<u8',
  uint32: '<u4',
  uint16: '<u2',
  uint8: '|u1',
  bool: '|b1',
};

const MAGIC = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]); // \x93NUMPY

function readNpy(file) {
  let buf;
  try {
    buf = fs.readFileSync(file);
  } catch (e) {
    fail(`cannot read ${file}: ${e.message}`);
  }
  if (buf.length < 10 || !buf.subarray(0, 6).equals(MAGIC)) fail(`${file}: not a .npy file`);
  const major = buf[6];
  const minor = buf[7];
  let hlen;
  let off;
  if (major === 1) {
    hlen = buf.readUInt16LE(8);
    off = 10;
  } else if (major === 2 || major === 3) {
    if (buf.length < 12) fail(`${file}: truncated .npy header`);
    hlen = buf.readUInt32LE(8);
    off = 12;
  } else {
    fail(`${file}: unsupported .npy format version ${major}.${minor}`);
  }
  if (off + hlen > buf.length) fail(`${file}: truncated .npy header`);
  const header = buf.toString(major === 3 ? 'utf8' : 'latin1', off, off + hlen);
  const descrM = /['"]descr['"]\s*:\s*['"]([^'"]*)['"]/.exec(header);
  const fortranM = /['"]fortran_order['"]\s*:\s*(True|False)/.exec(header);
  const shapeM = /['"]shape['"]\s*:\s*\(([^)]*)\)/.exec(header);
  if (!descrM || !fortranM || !shapeM) fail(`${file}: cannot parse .npy header ${JSON.stringify(header.trim())}`);
  const descr = descrM[1];
  if (fortranM[1] === 'True') fail(`${file}: fortran_order arrays are not supported (use C order)`);
  const spec = DESCR[descr];
  if (!spec) {
    fail(`${file}: unsupported dtype ${descr} (want one of ${Object.keys(DESCR).join(' ')})`);
  }
  const dims = shapeM[1]
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map((s) => {
      if (!/^\d+L?$/.test(s)) fail(`${file}: bad shape entry ${JSON.stringify(s)}`);
      return parseInt(s, 10);
    });
  const [type, Ctor, size] = spec;
  const count = dims.reduce((a, b) => a * b, 1);
  const start = off + hlen;
  const nbytes = count * size;
  if (buf.length - start < nbytes) {
    fail(`${file}: data is ${buf.length - start} bytes, shape [${dims}] of ${descr} needs ${nbytes}`);
  }
  if (buf.length - start > nbytes) fail(`${file}: ${buf.length - start - nbytes} trailing bytes after data`);
  // Copy into a fresh, aligned buffer (the data offset need not be aligned).
  const ab = new ArrayBuffer(nbytes);
  new Uint8Array(ab).set(buf.subarray(start, start + nbytes));
  return { type, dims, data: new Ctor(ab), descr };
}

function shapeString(dims) {
  if (dims.length === 0) return '()';
  if (dims.length === 1) return `(${dims[0]},)`;
  return `(${dims.join(', ')})`;
}

function npyBytes(descr, dims, data) {
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shapeString(dims)}, }`;
  // magic(6) + version(2) + len(2) + header + '\n', padded to a multiple of 64 (as numpy does).
  const total = Math.ceil((10 + header.length + 1) / 64) * 64;
  header = header + ' '.repeat(total - 10 - header.length - 1) + '\n';
  const hlen = header.length;
  let major = 1;
  let pre = 10;
  if (hlen > 65535) {
    major = 2;
    pre = 12;
  }
  const head = Buffer.alloc(pre);
  MAGIC.copy(head, 0);
  head[6] = major;
  head[7] = 0;
  if (major === 1) head.writeUInt16LE(hlen, 8);
  else head.writeUInt32LE(hlen, 8);
  const body = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return Buffer.concat([head, Buffer.from(header, 'latin1'), body]);
}

function writeNpy(file, type, dims, data) {
  const descr = TYPE_DESCR[type];
  if (!descr) fail(`output type ${type} cannot be written as .npy`);
  let arr = data;
  if (type === 'bool') {
    // ORT returns bool data as a Uint8Array; normalise to 0/1.
    arr = Uint8Array.from(data, (v) => (v ? 1 : 0));
  }
  if (!ArrayBuffer.isView(arr)) fail(`output of type ${type} is not a typed array`);
  fs.writeFileSync(file, npyBytes(descr, dims, arr));
}

// File name for an output: "<name>.npy" when name is a safe file name, otherwise every
// character outside [A-Za-z0-9._-] becomes "_" (PyTorch names intermediates "/conv1/Conv_output_0"),
// made unique with a "~N" suffix; the JSON report then gives the name in "file".
function outputFileName(name, used) {
  let base = name.replace(/[^A-Za-z0-9._-]/g, '_');
  if (base === '' || /^\.+$/.test(base)) base = `_${base}`;
  let file = `${base}.npy`;
  for (let i = 1; used.has(file.toLowerCase()); i++) file = `${base}~${i}.npy`;
  used.add(file.toLowerCase());
  return file;
}

// ---------------------------------------------------------------------------------------------
// command line

function parseArgs(argv) {
  const a = { model: null, outdir: null, inputs: [], bench: 0, threads: 0, opt: 'all' };
  const pos = [];
  for (let i = 0; i < argv.length; i++) {
    const s = argv[i];
    const takeValue = (name) => {
      const eq = s.indexOf('=');
      if (eq >= 0) return s.slice(eq + 1);
      if (i + 1 >= argv.length) throw new UsageError(`${name} needs a value`);
      return argv[++i];
    };
    const intValue = (name, min) => {
      const v = takeValue(name);
      if (!/^\d+$/.test(v) || parseInt(v, 10) < min) throw new UsageError(`${name} wants an integer >= ${min}, got ${JSON.stringify(v)}`);
      return parseInt(v, 10);
    };
    if (s === '--bench' || s.startsWith('--bench=')) a.bench = intValue('--bench', 1);
    else if (s === '--threads' || s.startsWith('--threads=')) a.threads = intValue('--threads', 1);
    else if (s === '--opt' || s.startsWith('--opt=')) {
      a.opt = takeValue('--opt');
      if (!['disabled', 'basic', 'extended', 'all'].includes(a.opt)) throw new UsageError(`--opt wants disabled|basic|extended|all, got ${JSON.stringify(a.opt)}`);
    } else if (s === '-h' || s === '--help') throw new UsageError('help');
    else if (s.startsWith('--')) throw new UsageError(`unknown option ${s}`);
    else pos.push(s);
  }
  if (pos.length < 2) throw new UsageError('need MODEL.onnx and OUTDIR');
  a.model = pos[0];
  a.outdir = pos[1];
  for (const s of pos.slice(2)) {
    const eq = s.indexOf('=');
    if (eq === 0) throw new UsageError(`bad input argument ${JSON.stringify(s)}`);
    if (eq > 0) a.inputs.push({ name: s.slice(0, eq), file: s.slice(eq + 1) });
    else a.inputs.push({ name: null, file: s });
  }
  return a;
}

const USAGE = 'usage: node tools/ort/run.js MODEL.onnx OUTDIR [NAME=FILE.npy ...] [--bench N] [--threads T] [--opt LEVEL]';

function loadOrt() {
  try {
    return require('onnxruntime-node');
  } catch (e) {
    fail(`cannot load onnxruntime-node (run "npm ci --ignore-scripts" in ${__dirname}): ${e.message}`);
  }
}

async function main(argv) {
  const a = parseArgs(argv);
  const ort = loadOrt();
  if (!fs.existsSync(a.model)) fail(`model ${a.model} does not exist`);

  const opts = {
    executionProviders: ['cpu'],
    graphOptimizationLevel: a.opt,
    logSeverityLevel: 3,
  };
  if (a.threads > 0) opts.intraOpNumThreads = a.threads;
  let session;
  try {
    session = await ort.InferenceSession.create(path.resolve(a.model), opts);
  } catch (e) {
    fail(`loading ${a.model}: ${e.message}`);
  }

  const inNames = session.inputNames;
  const meta = {};
  for (const m of session.inputMetadata || []) meta[m.name] = m;

  // Resolve NAME=FILE arguments.
  const files = {};
  for (const inp of a.inputs) {
    let name = inp.name;
    if (name === null) {
      if (a.inputs.length !== 1 || inNames.length !== 1) {
        fail(`input ${inp.file} has no NAME= (allowed only for a single input file and a model with one input; model inputs: ${inNames.join(', ')})`);
      }
      name = inNames[0];
    }
    if (!inNames.includes(name)) fail(`model has no input ${JSON.stringify(name)} (inputs: ${inNames.join(', ')})`);
    if (files[name]) fail(`input ${name} given twice`);
    files[name] = inp.file;
  }
  const missing = inNames.filter((n) => !(n in files));
  if (missing.length) fail(`missing input(s) ${missing.join(', ')}: pass NAME=FILE.npy`);

  const feeds = {};
  const inputsInfo = {};
  for (const name of inNames) {
    const t = readNpy(files[name]);
    const m = meta[name];
    if (m && m.isTensor) {
      if (m.type && m.type !== t.type) fail(`input ${name}: model wants ${m.type}, ${files[name]} holds ${t.descr} (${t.type})`);
      if (m.shape && m.shape.length) {
        if (m.shape.length !== t.dims.length) {
          fail(`input ${name}: model wants rank ${m.shape.length} [${m.shape}], ${files[name]} has shape [${t.dims}]`);
        }
        m.shape.forEach((d, i) => {
          if (typeof d === 'number' && d >= 0 && d !== t.dims[i]) {
            fail(`input ${name}: model wants shape [${m.shape}], ${files[name]} has shape [${t.dims}]`);
          }
        });
      }
    }
    feeds[name] = new ort.Tensor(t.type, t.data, t.dims);
    inputsInfo[name] = { dims: t.dims, type: t.type };
  }

  const run = async () => {
    try {
      return await session.run(feeds);
    } catch (e) {
      fail(`run: ${e.message}`);
    }
  };

  const results = await run();
  try {
    fs.mkdirSync(a.outdir, { recursive: true });
  } catch (e) {
    fail(`cannot create ${a.outdir}: ${e.message}`);
  }
  const outputs = {};
  const used = new Set();
  for (const name of session.outputNames) {
    const t = results[name];
    if (!t) fail(`output ${name} missing from results`);
    const file = outputFileName(name, used);
    const dims = Array.from(t.dims, Number);
    writeNpy(path.join(a.outdir, file), t.type, dims, t.data);
    outputs[name] = { dims, type: t.type };
    if (file !== `${name}.npy`) outputs[name].file = file;
  }

  const report = { outputs, inputs: inputsInfo };
  if (a.bench > 0) {
    await run(); // warm-up
    const ms = [];
    for (let i = 0; i < a.bench; i++) {
      const t0 = process.hrtime.bigint();
      await run();
      ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    const sorted = ms.slice().sort((x, y) => x - y);
    const n = sorted.length;
    const median = n % 2 ? sorted[(n - 1) / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
    const round = (v) => Math.round(v * 1000) / 1000;
    report.ms = {
      n,
      min: round(sorted[0]),
      median: round(median),
      mean: round(ms.reduce((x, y) => x + y, 0) / n),
    };
    if (a.threads > 0) report.threads = a.threads;
    // The peak resident set of this whole node process (resourceUsage gives kilobytes).
    report.peak_rss_bytes = process.resourceUsage().maxRSS * 1024;
  }
  process.stdout.write(JSON.stringify(report) + '\n');
  if (typeof session.release === 'function') await session.release();
}

function oneLine(msg) {
  return String(msg).replace(/\s*\n\s*/g, ' ').trim();
}

main(process.argv.slice(2)).then(
  () => process.exit(0),
  (e) => {
    let msg = e && e.message !== undefined ? e.message : String(e);
    if (e instanceof UsageError && msg === 'help') {
      process.stdout.write(`${USAGE}\n`);
      process.exit(0);
    }
    if (e instanceof UsageError) msg = `${msg}; ${USAGE}`;
    process.stderr.write(`ort: ${oneLine(msg)}\n`);
    process.exit(1);
  },
);

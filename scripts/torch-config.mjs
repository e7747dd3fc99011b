#!/usr/bin/env node
// Prints compiler/linker flags for the libtorch that cxrtune builds against:
// $LIBTORCH (a pytorch.org libtorch zip or a pip `torch` package folder) when set,
// otherwise Debian's libtorch-dev (/usr). Used by native/binding.gyp.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export function torchConfig(env = process.env) {
  const root = env.LIBTORCH;
  if (root) {
    if (!existsSync(join(root, 'include', 'torch'))) {
      throw new Error(`LIBTORCH=${root} does not look like a libtorch folder (no include/torch)`);
    }
    const lib = join(root, 'lib');
    const cuda = existsSync(join(lib, 'libtorch_cuda.so'));
    return {
      root,
      includes: [join(root, 'include'), join(root, 'include', 'torch', 'csrc', 'api', 'include')],
      defines: [
        `_GLIBCXX_USE_CXX11_ABI=${cxx11Abi(join(root, 'share', 'cmake', 'Torch', 'TorchConfig.cmake'))}`,
        ...glooDefines([join(root, 'include')]),
      ],
      libs: [
        `-L${lib}`,
        `-Wl,-rpath,${lib}`,
        '-Wl,--no-as-needed',
        ...(cuda ? ['-ltorch_cuda', '-lc10_cuda'] : []),
        '-ltorch',
        '-ltorch_cpu',
        '-lc10',
        '-Wl,--as-needed',
      ],
      cuda,
    };
  }
  const inc = '/usr/include/torch/csrc/api/include';
  // Debian's libtorch links the system oneDNN (libdnnl.so.2); with its headers (libdnnl-dev) the
  // addon calls the same library directly for inference convolutions. A pytorch.org libtorch
  // carries its own oneDNN inside, hidden: there the addon uses libtorch's prepacked ops.
  const onednn = existsSync('/usr/include/dnnl.hpp') && existsSync('/usr/lib/x86_64-linux-gnu/libdnnl.so');
  if (!existsSync(inc))
    throw new Error('libtorch not found: install it (apt-get install libtorch-dev) or set LIBTORCH=/path/to/libtorch');
  return {
    root: '/usr',
    includes: [inc],
    defines: [
      `_GLIBCXX_USE_CXX11_ABI=${cxx11Abi('/usr/lib/x86_64-linux-gnu/cmake/Torch/TorchConfig.cmake')}`,
      ...glooDefines(['/usr/include']),
      ...(onednn ? ['CXR_ONEDNN'] : []),
    ],
    libs: ['-ltorch', '-ltorch_cpu', '-lc10', ...(onednn ? ['-ldnnl'] : [])],
    cuda: false,
  };
}

// c10d's ProcessGroupGloo header needs Gloo's headers (Debian: libgloo-dev); without
// them the addon builds with distributed training switched off (a clear error at run time).
function glooDefines(includeDirs) {
  const has =
    includeDirs.some((d) => existsSync(join(d, 'gloo', 'algorithm.h'))) &&
    includeDirs.some((d) => existsSync(join(d, 'torch', 'csrc', 'distributed', 'c10d', 'ProcessGroupGloo.hpp')));
  return has ? ['USE_C10D_GLOO', 'CXR_C10D_GLOO'] : [];
}

// libtorch records the C++ ABI it was built with in TorchConfig.cmake.
function cxx11Abi(cmakeFile) {
  if (!existsSync(cmakeFile)) return 1;
  const m = /_GLIBCXX_USE_CXX11_ABI=(\d)/.exec(readFileSync(cmakeFile, 'utf8'));
  return m ? Number(m[1]) : 1;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const what = process.argv[2];
  const cfg = torchConfig();
  if (!(what in cfg)) {
    console.error(`usage: torch-config.mjs includes|defines|libs|root`);
    process.exit(2);
  }
  const v = cfg[what];
  console.log(Array.isArray(v) ? v.join(' ') : String(v));
}

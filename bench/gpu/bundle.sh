#!/usr/bin/env bash
# Packs bench/src/gpu-webgpu-check.ts into a self-contained folder for a GPU machine that has no
# npm registry and no node_modules: a single-file bundle (tfjs, @calm/nn, the tfjs webgpu backend;
# one tfjs-core copy), the `webgpu` package (Dawn, linux-x64 only), the Node binary, and the Vulkan
# loader debs. Output: .gpu/ (git-ignored). On the GPU machine:
#   mkdir -p /tmp/g && cd /tmp/g && tar xJf $R/.gpu/node.tar.xz && mkdir -p node_modules &&
#   tar -C node_modules -xJf $R/.gpu/webgpu.tar.xz && cp -r $R/.gpu/shim/@tensorflow node_modules/ &&
#   cp $R/.gpu/check.mjs . && for f in $R/.gpu/*.deb; do dpkg -x $f /; done; ldconfig;
#   export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json; ./node check.mjs
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p .gpu
W=$(dirname "$(node -e "console.log(require.resolve('webgpu/package.json', { paths: ['packages/nn'] }))")")
ES=$(ls -d node_modules/.pnpm/esbuild@*/node_modules/esbuild/bin/esbuild | head -1)
NODE_PATH=$PWD/packages/nn/node_modules "$ES" bench/gpu/entry.mjs --bundle --platform=node --format=esm \
  --outfile=.gpu/check.mjs --conditions=@calm/source --external:webgpu --external:@tensorflow/tfjs-node \
  --external:@tensorflow/tfjs-node-gpu --log-level=warning \
  "--banner:js=import { createRequire as __cr } from 'module'; const require = __cr(import.meta.url);"
rm -rf .gpu/shim && cp -r bench/gpu/shim .gpu/shim
[ -f .gpu/node.tar.xz ] || tar -C "$(dirname "$(readlink -f "$(command -v node)")")" -cf - node | xz -6 > .gpu/node.tar.xz
tar -C "$W/.." -cf - webgpu/index.js webgpu/package.json webgpu/dist/linux-x64 | xz -6 > .gpu/webgpu.tar.xz
(cd .gpu && o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64' && mkdir -p /tmp/amd64/partial &&
  apt-get $o update -qq && apt-get $o download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)
du -sh .gpu

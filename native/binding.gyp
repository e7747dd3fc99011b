{
  "targets": [{
    "target_name": "cxrtune",
    "sources": ["src/addon.cc", "src/model.cc", "src/requests.cc", "src/task.cc", "src/convert.cc", "src/core.cc", "src/optimizer.cc", "src/step.cc", "src/cam.cc",
                "src/families.cc", "src/resnet.cc", "src/densenet.cc", "src/mobilenet_v2.cc", "src/distributed.cc", "src/sync_batch_norm.cc", "src/unet.cc", "src/profiler.cc"],
    "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")", "<!@(node ../scripts/torch-config.mjs includes)"],
    "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "<!@(node ../scripts/torch-config.mjs defines)"],
    "cflags!": ["-fno-exceptions", "-fno-rtti"],
    "cflags_cc!": ["-fno-exceptions", "-fno-rtti"],
    "cflags_cc": ["-std=c++17", "-O2", "-fexceptions", "-frtti", "-Wno-unused-parameter", "-Wno-deprecated-declarations"],
    "configurations": {"Release": {"cflags!": ["-O3"]}},
    "libraries": ["<!@(node ../scripts/torch-config.mjs libs)"]
  }]
}

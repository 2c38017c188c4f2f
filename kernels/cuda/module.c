/*
 * Loading the CUDA engine module (kern_cuda.h). The engine and the CUDA libraries it links
 * (cudart, cuBLAS: about 140 MiB of mappings and most of a CPU run's start-up when linked into
 * the executable) live in libkiln-cuda.so beside the executable, so a run without a GPU maps
 * none of them: the device probe reads the driver's files only, and the module is opened with
 * dlopen when a device is there. The module exports one function that returns its table of
 * entry points; the table carries the ABI number and struct sizes of the build that made it, so
 * a module from another build is refused by name instead of being called with the wrong
 * layout. Modules are opened RTLD_NODELETE: the CUDA runtime keeps threads and exit handlers of
 * its own, which must outlive kern_cuda_module_close.
 *
 * KERN_CUDA_BUILT (compile definition, 0 or 1) says whether this build made a module at all; with
 * KERN_CUDA_EMU the module is the engine on kcemu, the CPU emulator, which is always present.
 */
#include "kernels/cuda/kern_cuda.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>

struct kern_cuda_module {
    void *dl;                 /* dlopen handle, owned */
    const kern_cuda_api *api; /* static storage in the module */
};

bool kern_cuda_device_present(void)
{
#if KERN_CUDA_EMU
    return true;
#else
    /* The driver lists one folder per GPU here; containers given a GPU see it too. */
    DIR *d = opendir("/proc/driver/nvidia/gpus");
    if (d != NULL) {
        bool found = false;
        const struct dirent *e = NULL;
        while (!found && (e = readdir(d)) != NULL) {
            found = e->d_name[0] != '.';
        }
        closedir(d);
        if (found) {
            return true;
        }
    }
    return access("/dev/nvidia0", F_OK) == 0;
#endif
}

/* Writes KERN_CUDA_MODULE_NAME's path beside the running executable into buf. */
static int default_path(char *buf, size_t size, core_err *err)
{
    const ssize_t n = readlink("/proc/self/exe", buf, size - 1);
    if (n <= 0 || (size_t)n >= size - 1) {
        return core_err_set(err, CORE_ERROR, "cuda: readlink /proc/self/exe: %s",
                            n < 0 ? strerror(errno) : "path too long");
    }
    buf[n] = '\0';
    char *slash = strrchr(buf, '/');
    const size_t dir_len = slash != NULL ? (size_t)(slash - buf) + 1 : 0;
    const size_t name_len = sizeof(KERN_CUDA_MODULE_NAME);
    if (dir_len + name_len > size) {
        return core_err_set(err, CORE_ERROR, "cuda: module path too long beside %s", buf);
    }
    memcpy(buf + dir_len, KERN_CUDA_MODULE_NAME, name_len);
    return 0;
}

/* Checks the table that the module at path handed out. */
static int check_api(const kern_cuda_api *api, const char *path, core_err *err)
{
    if (api == NULL) {
        return core_err_set(err, CORE_ERROR, "cuda: %s: kern_cuda_engine_api returned no table",
                            path);
    }
    if (api->abi != KERN_CUDA_ABI || api->api_size != sizeof(kern_cuda_api) ||
        api->desc_size != sizeof(kern_cuda_model_desc)) {
        return core_err_set(err, CORE_ERROR,
                            "cuda: %s: engine ABI %u (table %u bytes, model %zu bytes) does not "
                            "match kiln's %u (%zu, %zu): a module from another build",
                            path, api->abi, api->api_size, api->desc_size, KERN_CUDA_ABI,
                            sizeof(kern_cuda_api), sizeof(kern_cuda_model_desc));
    }
    if (!api->device_count || !api->device_name || !api->dequantize_q8_0 || !api->type_supported ||
        !api->model_new || !api->model_free || !api->model_n_bytes || !api->ctx_new ||
        !api->ctx_free || !api->ctx_forward || !api->ctx_logits || !api->ctx_seq_copy) {
        return core_err_set(err, CORE_ERROR, "cuda: %s: the engine's table lacks entry points",
                            path);
    }
    return 0;
}

int kern_cuda_module_open(kern_cuda_module **out, const char *path, core_err *err)
{
    *out = NULL;
    char buf[PATH_MAX];
    if (path == NULL) {
        if (!KERN_CUDA_BUILT) {
            return core_err_set(err, CORE_EUNSUPPORTED, "cuda: kiln was built without CUDA");
        }
        const int rc = default_path(buf, sizeof(buf), err);
        if (rc < 0) {
            return rc;
        }
        path = buf;
    }
    if (access(path, F_OK) != 0) {
        return core_err_set(err, CORE_EUNSUPPORTED, "cuda: no engine module at %s", path);
    }
    kern_cuda_module *m = core_calloc(1, sizeof(*m));
    if (m == NULL) {
        return core_err_set(err, CORE_ENOMEM, "cuda: out of memory");
    }
    int rc = 0;
    m->dl = dlopen(path, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
    if (m->dl == NULL) {
        const char *why = dlerror();
        rc = core_err_set(err, CORE_ERROR, "cuda: loading %s: %s", path, why ? why : "dlopen");
        goto done;
    }
    void *sym = dlsym(m->dl, "kern_cuda_engine_api");
    if (sym == NULL) {
        rc = core_err_set(err, CORE_ERROR, "cuda: %s: no kern_cuda_engine_api (not a kiln engine)",
                          path);
        goto done;
    }
    /* POSIX guarantees that dlsym's object pointer converts to the function's type. */
    kern_cuda_engine_api_fn get = NULL;
    memcpy(&get, &sym, sizeof(get));
    m->api = get();
    rc = check_api(m->api, path, err);
done:
    if (rc < 0) {
        kern_cuda_module_close(m);
        return rc;
    }
    *out = m;
    return 0;
}

void kern_cuda_module_close(kern_cuda_module *module)
{
    if (module == NULL) {
        return;
    }
    if (module->dl != NULL) {
        dlclose(module->dl);
    }
    core_free(module);
}

const kern_cuda_api *kern_cuda_module_api(const kern_cuda_module *module)
{
    return module->api;
}

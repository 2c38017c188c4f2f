/*
 * The kernels_cuda suite: the GPU checks of kernels/cuda/, in their own runner labelled gpu.
 * Exits 77 (ctest: skipped) when the machine has no CUDA device.
 */
#include <stdio.h>
#include <stdlib.h>

#include <check.h>

#include "kernels/cuda/kern_cuda.h"

TCase *tcase_device(void);

int main(void)
{
    int n_devices = 0;
    core_err err = {0};
    kern_cuda_module *cuda = NULL;
    if (!kern_cuda_device_present() || kern_cuda_module_open(&cuda, NULL, &err) != 0 ||
        kern_cuda_module_api(cuda)->device_count(&n_devices, &err) != 0 || n_devices == 0) {
        printf("kernels_cuda: skipped: %s\n", err.code != 0 ? err.msg : "no cuda device");
        kern_cuda_module_close(cuda);
        return 77;
    }
    kern_cuda_module_close(cuda);
    Suite *s = suite_create("kernels_cuda");
    suite_add_tcase(s, tcase_device());
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int n_failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return n_failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

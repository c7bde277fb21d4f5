//go:build opencv

// C interface to the few OpenCV calls cvdet makes itself: the ONNX network
// (load and forward, with C++ exceptions turned into error strings) and the
// HOG people detector (with the default coefficients copied into the
// descriptor), and a Haar cascade (faces). See shim_opencv.cpp.
#ifndef VIGIL_CVDET_SHIM_H
#define VIGIL_CVDET_SHIM_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vigil_net vigil_net;

vigil_net *vigil_net_read(const char *buf, size_t len, char *err, int errlen);
void vigil_net_free(vigil_net *n);
int vigil_net_forward(vigil_net *n, void *blob, char *err, int errlen);
int vigil_net_out_dims(vigil_net *n, int *dims, int maxdims);
const float *vigil_net_out_data(vigil_net *n, size_t *total);

typedef struct vigil_hog vigil_hog;

vigil_hog *vigil_hog_new(char *err, int errlen);
void vigil_hog_free(vigil_hog *h);
int vigil_hog_coeffs(vigil_hog *h);
int vigil_hog_detect(vigil_hog *h, const unsigned char *rgb, int w, int hgt,
                     double upscale, double hit, double scale, int *rects,
                     double *weights, int max, int *n, char *err, int errlen);

typedef struct vigil_haar vigil_haar;

vigil_haar *vigil_haar_new(const char *path, char *err, int errlen);
void vigil_haar_free(vigil_haar *h);
int vigil_haar_detect(vigil_haar *h, const unsigned char *rgb, int w, int hgt,
                      double scale, int neighbours, int minsize, int *rects, int max,
                      int *n, char *err, int errlen);

#ifdef __cplusplus
}
#endif

#endif

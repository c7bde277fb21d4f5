//go:build opencv

// The OpenCV calls cvdet makes itself rather than through gocv v0.31.0:
//
//   - loading and running the ONNX network: gocv lets a cv::Exception
//     (a corrupt model, an input size the model was not exported for)
//     escape through cgo, which aborts the process; here every call is
//     wrapped and the exception becomes an error string;
//   - the HOG people detector: gocv's HOGDefaultPeopleDetector returns a
//     Mat over the data of a std::vector that has already been freed, so
//     the SVM it sets is garbage; here the coefficients are copied into
//     the descriptor by setSVMDetector while the vector is alive;
//   - a Haar cascade classifier (OpenCV's face cascades from opencv-data),
//     with its exceptions caught the same way.

#include "shim.h"

#include <opencv2/core.hpp>
#include <opencv2/dnn.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/objdetect.hpp>

#include <cstring>
#include <exception>
#include <string>
#include <vector>

struct vigil_net {
    cv::dnn::Net net;
    cv::Mat out;
};

struct vigil_hog {
    cv::HOGDescriptor hog;
};

struct vigil_haar {
    cv::CascadeClassifier cascade;
};

static void set_err(char *err, int errlen, const char *msg) {
    if (err == NULL || errlen <= 0) {
        return;
    }
    std::strncpy(err, msg, (size_t)errlen - 1);
    err[errlen - 1] = 0;
}

extern "C" vigil_net *vigil_net_read(const char *buf, size_t len, char *err, int errlen) {
    vigil_net *n = NULL;
    try {
        n = new vigil_net();
        n->net = cv::dnn::readNetFromONNX(buf, len);
        if (n->net.empty()) {
            delete n;
            set_err(err, errlen, "OpenCV read an empty network");
            return NULL;
        }
        return n;
    } catch (const std::exception &e) {
        set_err(err, errlen, e.what());
    } catch (...) {
        set_err(err, errlen, "unknown OpenCV error");
    }
    delete n; // a model that failed to load leaks nothing
    return NULL;
}

extern "C" void vigil_net_free(vigil_net *n) { delete n; }

extern "C" int vigil_net_forward(vigil_net *n, void *blob, char *err, int errlen) {
    try {
        n->out.release();
        n->net.setInput(*static_cast<cv::Mat *>(blob));
        n->out = n->net.forward();
        return 0;
    } catch (const std::exception &e) {
        set_err(err, errlen, e.what());
    } catch (...) {
        set_err(err, errlen, "unknown OpenCV error");
    }
    n->out.release();
    return -1;
}

extern "C" int vigil_net_out_dims(vigil_net *n, int *dims, int maxdims) {
    int d = n->out.dims;
    if (d > maxdims) {
        return -1;
    }
    for (int i = 0; i < d; i++) {
        dims[i] = n->out.size[i];
    }
    return d;
}

extern "C" const float *vigil_net_out_data(vigil_net *n, size_t *total) {
    *total = 0;
    if (n->out.empty() || n->out.depth() != CV_32F || n->out.channels() != 1 || !n->out.isContinuous()) {
        return NULL;
    }
    *total = n->out.total();
    return n->out.ptr<float>();
}

extern "C" vigil_hog *vigil_hog_new(char *err, int errlen) {
    vigil_hog *h = NULL;
    try {
        h = new vigil_hog();
        std::vector<float> coef = cv::HOGDescriptor::getDefaultPeopleDetector();
        h->hog.setSVMDetector(coef); // copies coef into the descriptor
        return h;
    } catch (const std::exception &e) {
        set_err(err, errlen, e.what());
    } catch (...) {
        set_err(err, errlen, "unknown OpenCV error");
    }
    delete h;
    return NULL;
}

extern "C" void vigil_hog_free(vigil_hog *h) { delete h; }

extern "C" int vigil_hog_coeffs(vigil_hog *h) { return (int)h->hog.svmDetector.size(); }

extern "C" int vigil_hog_detect(vigil_hog *h, const unsigned char *rgb, int w, int hgt,
                                double upscale, double hit, double scale, int *rects,
                                double *weights, int max, int *n, char *err, int errlen) {
    *n = 0;
    try {
        cv::Mat img(hgt, w, CV_8UC3, (void *)rgb); // borrowed for the call only
        cv::Mat in = img;
        if (upscale != 1) {
            cv::resize(img, in, cv::Size(), upscale, upscale, cv::INTER_LINEAR);
        }
        // OpenCV 4.6 corrupts the heap scanning an image smaller than the
        // detection window: there is nothing to find in one anyway.
        if (in.cols < h->hog.winSize.width || in.rows < h->hog.winSize.height) {
            return 0;
        }
        std::vector<cv::Rect> found;
        std::vector<double> wts;
        h->hog.detectMultiScale(in, found, wts, hit, cv::Size(8, 8), cv::Size(), scale, 2.0, false);
        int k = 0;
        for (size_t i = 0; i < found.size() && k < max; i++) {
            const cv::Rect &r = found[i];
            rects[4 * k + 0] = r.x;
            rects[4 * k + 1] = r.y;
            rects[4 * k + 2] = r.width;
            rects[4 * k + 3] = r.height;
            weights[k] = i < wts.size() ? wts[i] : 0;
            k++;
        }
        *n = k;
        return 0;
    } catch (const std::exception &e) {
        set_err(err, errlen, e.what());
    } catch (...) {
        set_err(err, errlen, "unknown OpenCV error");
    }
    return -1;
}

extern "C" vigil_haar *vigil_haar_new(const char *path, char *err, int errlen) {
    vigil_haar *h = NULL;
    try {
        h = new vigil_haar();
        if (!h->cascade.load(path) || h->cascade.empty()) {
            set_err(err, errlen, "OpenCV could not load the cascade");
            delete h;
            return NULL;
        }
        return h;
    } catch (const std::exception &e) {
        set_err(err, errlen, e.what());
    } catch (...) {
        set_err(err, errlen, "unknown OpenCV error");
    }
    delete h;
    return NULL;
}

extern "C" void vigil_haar_free(vigil_haar *h) { delete h; }

extern "C" int vigil_haar_detect(vigil_haar *h, const unsigned char *rgb, int w, int hgt,
                                 double scale, int neighbours, int minsize, int *rects, int max,
                                 int *n, char *err, int errlen) {
    *n = 0;
    try {
        cv::Mat img(hgt, w, CV_8UC3, (void *)rgb); // borrowed for the call only
        cv::Mat grey;
        cv::cvtColor(img, grey, cv::COLOR_RGB2GRAY);
        cv::equalizeHist(grey, grey);
        std::vector<cv::Rect> found;
        h->cascade.detectMultiScale(grey, found, scale, neighbours, 0, cv::Size(minsize, minsize));
        int k = 0;
        for (size_t i = 0; i < found.size() && k < max; i++) {
            const cv::Rect &r = found[i];
            rects[4 * k + 0] = r.x;
            rects[4 * k + 1] = r.y;
            rects[4 * k + 2] = r.width;
            rects[4 * k + 3] = r.height;
            k++;
        }
        *n = k;
        return 0;
    } catch (const std::exception &e) {
        set_err(err, errlen, e.what());
    } catch (...) {
        set_err(err, errlen, "unknown OpenCV error");
    }
    return -1;
}

/**
 * channelconv: multi-channel 2-D convolution for Node.js.
 * Multiple input channels are cross-correlated with their kernel slices and summed; multiple output
 * channels are stacked. Computed as im2col + GEMM in C++ (OpenMP).
 */
export { tensor, toNested, type Tensor, type Nested } from './tensor';
export { conv2d, conv2dSync, convCost, conv2dTranspose, conv2dTransposeSync, convTransposeCost, type ConvCost, type ConvOutput } from './conv';
export { conv2dBackward, conv2dBackwardSync, convBackwardCost, type Conv2dGradients, type ConvBackwardCost } from './backward';
export { toDevice, DeviceTensor, isDeviceTensor, AUTO_CUDA_MIN_MACS } from './device';
export { createConv2d, type Conv2dLayer, type Conv2dLayerOptions, type LayerOutput } from './prepared';
export { corr2d, corr2dMultiIn, corr2dMultiInOut, corr2dMultiInOut1x1 } from './lecture';
export { backendInfo, type BackendInfo } from './backend';
export { codes, type ErrorCode, type ChannelconvError } from './errors';
export type { Algorithm, Conv2dOptions, Conv2dTransposeOptions, Conv2dBackwardOptions, Gradient, Padding } from './options';

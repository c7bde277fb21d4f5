#include "textflag.h"

// Advanced SIMD instructions the Go assembler has no mnemonic for, on
// four-lane single-precision vectors (Vd = Vn op Vm).
#define FMUL4(m, n, d) WORD $(0x6E20DC00 | ((m)<<16) | ((n)<<5) | (d))
#define FMAX4(m, n, d) WORD $(0x4E20F400 | ((m)<<16) | ((n)<<5) | (d))
#define FADD4(m, n, d) WORD $(0x4E20D400 | ((m)<<16) | ((n)<<5) | (d))

// ACT(r): Vr = max(Vr, Vr * alpha), alpha in V28, V29 scratch.
#define ACT(r) FMUL4(28, r, 29); FMAX4(29, r, r)

// ROW(ap, r0, r1, r2, r3, t): broadcast the next A value of the row at ap
// into Vt and add Vt * B[q][0:16] (V24-V27) to the row's accumulators.
#define ROW(ap, r0, r1, r2, r3, t) \
	VLD1R.P 4(ap), [t.S4]; \
	VFMLA V24.S4, t.S4, r0.S4; \
	VFMLA V25.S4, t.S4, r1.S4; \
	VFMLA V26.S4, t.S4, r2.S4; \
	VFMLA V27.S4, t.S4, r3.S4

// func kernelNEON(k int, a unsafe.Pointer, lda int, b unsafe.Pointer, c unsafe.Pointer, ldc int, bias unsafe.Pointer, alpha float32, acc int)
// Computes a 6x16 tile: C[r][0:16] = act(bias[0:16] + C0 + sum_q A[r][q] * B[q][0:16]),
// C0 the tile's previous contents when acc != 0, else zero, act(v) = max(v, alpha*v);
// B's rows 32 floats apart (half a packed panel). Accumulators: row r in V(4r)-V(4r+3).
TEXT ·kernelNEON(SB), NOSPLIT, $0-72
	MOVD k+0(FP), R0
	MOVD a+8(FP), R8
	MOVD lda+16(FP), R2
	LSL $2, R2
	MOVD b+24(FP), R3
	MOVD c+32(FP), R4
	MOVD ldc+40(FP), R5
	LSL $2, R5
	MOVD bias+48(FP), R6
	MOVD acc+64(FP), R7

	// The six rows of A.
	ADD R2, R8, R9
	ADD R2, R9, R10
	ADD R2, R10, R11
	ADD R2, R11, R12
	ADD R2, R12, R13

	// Start from the bias, plus C0 when accumulating.
	VLD1 (R6), [V24.S4, V25.S4, V26.S4, V27.S4]
	CBNZ R7, loadacc
	VMOV V24.B16, V0.B16
	VMOV V25.B16, V1.B16
	VMOV V26.B16, V2.B16
	VMOV V27.B16, V3.B16
	VMOV V24.B16, V4.B16
	VMOV V25.B16, V5.B16
	VMOV V26.B16, V6.B16
	VMOV V27.B16, V7.B16
	VMOV V24.B16, V8.B16
	VMOV V25.B16, V9.B16
	VMOV V26.B16, V10.B16
	VMOV V27.B16, V11.B16
	VMOV V24.B16, V12.B16
	VMOV V25.B16, V13.B16
	VMOV V26.B16, V14.B16
	VMOV V27.B16, V15.B16
	VMOV V24.B16, V16.B16
	VMOV V25.B16, V17.B16
	VMOV V26.B16, V18.B16
	VMOV V27.B16, V19.B16
	VMOV V24.B16, V20.B16
	VMOV V25.B16, V21.B16
	VMOV V26.B16, V22.B16
	VMOV V27.B16, V23.B16
	B run

loadacc:
	MOVD R4, R14
	VLD1 (R14), [V0.S4, V1.S4, V2.S4, V3.S4]
	ADD R5, R14
	VLD1 (R14), [V4.S4, V5.S4, V6.S4, V7.S4]
	ADD R5, R14
	VLD1 (R14), [V8.S4, V9.S4, V10.S4, V11.S4]
	ADD R5, R14
	VLD1 (R14), [V12.S4, V13.S4, V14.S4, V15.S4]
	ADD R5, R14
	VLD1 (R14), [V16.S4, V17.S4, V18.S4, V19.S4]
	ADD R5, R14
	VLD1 (R14), [V20.S4, V21.S4, V22.S4, V23.S4]
	FADD4(24, 0, 0)
	FADD4(25, 1, 1)
	FADD4(26, 2, 2)
	FADD4(27, 3, 3)
	FADD4(24, 4, 4)
	FADD4(25, 5, 5)
	FADD4(26, 6, 6)
	FADD4(27, 7, 7)
	FADD4(24, 8, 8)
	FADD4(25, 9, 9)
	FADD4(26, 10, 10)
	FADD4(27, 11, 11)
	FADD4(24, 12, 12)
	FADD4(25, 13, 13)
	FADD4(26, 14, 14)
	FADD4(27, 15, 15)
	FADD4(24, 16, 16)
	FADD4(25, 17, 17)
	FADD4(26, 18, 18)
	FADD4(27, 19, 19)
	FADD4(24, 20, 20)
	FADD4(25, 21, 21)
	FADD4(26, 22, 22)
	FADD4(27, 23, 23)

run:
	CBZ R0, store

loop:
	VLD1 (R3), [V24.S4, V25.S4, V26.S4, V27.S4]
	ADD $128, R3
	ROW(R8, V0, V1, V2, V3, V28)
	ROW(R9, V4, V5, V6, V7, V29)
	ROW(R10, V8, V9, V10, V11, V30)
	ROW(R11, V12, V13, V14, V15, V31)
	ROW(R12, V16, V17, V18, V19, V28)
	ROW(R13, V20, V21, V22, V23, V29)
	SUB $1, R0
	CBNZ R0, loop

store:
	MOVWU alpha+56(FP), R15
	VDUP R15, V28.S4
	ACT(0); ACT(1); ACT(2); ACT(3)
	ACT(4); ACT(5); ACT(6); ACT(7)
	ACT(8); ACT(9); ACT(10); ACT(11)
	ACT(12); ACT(13); ACT(14); ACT(15)
	ACT(16); ACT(17); ACT(18); ACT(19)
	ACT(20); ACT(21); ACT(22); ACT(23)
	VST1 [V0.S4, V1.S4, V2.S4, V3.S4], (R4)
	ADD R5, R4
	VST1 [V4.S4, V5.S4, V6.S4, V7.S4], (R4)
	ADD R5, R4
	VST1 [V8.S4, V9.S4, V10.S4, V11.S4], (R4)
	ADD R5, R4
	VST1 [V12.S4, V13.S4, V14.S4, V15.S4], (R4)
	ADD R5, R4
	VST1 [V16.S4, V17.S4, V18.S4, V19.S4], (R4)
	ADD R5, R4
	VST1 [V20.S4, V21.S4, V22.S4, V23.S4], (R4)
	RET

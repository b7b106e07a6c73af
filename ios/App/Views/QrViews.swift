import Collabzium
import CollabziumAppCore
import SwiftUI

/// The core's QR module matrix, drawn: black on white whatever the color scheme (the contrast a
/// camera needs), the quiet zone included, whole points per module so none blurs.
struct QrMatrixView: View {
    let matrix: QrMatrix

    var body: some View {
        Canvas { context, canvasSize in
            let size = Int(matrix.size)
            let total = size + 2 * Int(matrix.quietZone)
            guard size > 0, matrix.modules.count == size * size else { return }
            let side = min(canvasSize.width, canvasSize.height)
            let cell = (side / CGFloat(total)).rounded(.down)
            guard cell > 0 else { return }
            let origin = (side - cell * CGFloat(total)) / 2 + cell * CGFloat(matrix.quietZone)
            context.fill(Path(CGRect(x: 0, y: 0, width: side, height: side)), with: .color(.white))
            var dark = Path()
            for y in 0..<size {
                for x in 0..<size where matrix.modules[y * size + x] {
                    dark.addRect(CGRect(x: origin + CGFloat(x) * cell, y: origin + CGFloat(y) * cell, width: cell, height: cell))
                }
            }
            context.fill(dark, with: .color(.black))
        }
        .aspectRatio(1, contentMode: .fit)
    }
}

#if canImport(AVFoundation) && canImport(UIKit)
import AVFoundation
import UIKit

/// The back camera's frames as luma for `JoinPresenter.scanImage`: the Y plane of the
/// 420 bi-planar buffer, its row padding removed. One frame is handed out at a time; the next
/// is taken only after `onFrame` returns, so a slow decode never queues frames.
struct QrScannerView: UIViewControllerRepresentable {
    let onFrame: @Sendable (Int, Int, Data) async -> Void

    func makeUIViewController(context: Context) -> ScannerController {
        ScannerController(onFrame: onFrame)
    }

    func updateUIViewController(_ controller: ScannerController, context: Context) {}

    final class ScannerController: UIViewController, AVCaptureVideoDataOutputSampleBufferDelegate {
        private let session = AVCaptureSession()
        private let queue = DispatchQueue(label: "org.collabzium.qr-frames")
        private let onFrame: @Sendable (Int, Int, Data) async -> Void
        private var busy = false

        init(onFrame: @escaping @Sendable (Int, Int, Data) async -> Void) {
            self.onFrame = onFrame
            super.init(nibName: nil, bundle: nil)
        }

        required init?(coder: NSCoder) { nil }

        override func viewDidLoad() {
            super.viewDidLoad()
            view.accessibilityLabel = "Camera view for scanning the QR code"
            guard let camera = AVCaptureDevice.default(.builtInWideAngleCamera, for: .video, position: .back),
                  let input = try? AVCaptureDeviceInput(device: camera), session.canAddInput(input) else { return }
            session.sessionPreset = .hd1280x720
            session.addInput(input)
            let output = AVCaptureVideoDataOutput()
            output.videoSettings = [kCVPixelBufferPixelFormatTypeKey as String: kCVPixelFormatType_420YpCbCr8BiPlanarFullRange]
            output.alwaysDiscardsLateVideoFrames = true
            output.setSampleBufferDelegate(self, queue: queue)
            guard session.canAddOutput(output) else { return }
            session.addOutput(output)
            let preview = AVCaptureVideoPreviewLayer(session: session)
            preview.videoGravity = .resizeAspectFill
            preview.frame = view.bounds
            view.layer.addSublayer(preview)
            queue.async { [session] in session.startRunning() }
        }

        override func viewWillDisappear(_ animated: Bool) {
            super.viewWillDisappear(animated)
            queue.async { [session] in session.stopRunning() }
        }

        func captureOutput(_ output: AVCaptureOutput, didOutput sampleBuffer: CMSampleBuffer, from connection: AVCaptureConnection) {
            guard !busy, let buffer = CMSampleBufferGetImageBuffer(sampleBuffer) else { return }
            CVPixelBufferLockBaseAddress(buffer, .readOnly)
            defer { CVPixelBufferUnlockBaseAddress(buffer, .readOnly) }
            guard let base = CVPixelBufferGetBaseAddressOfPlane(buffer, 0) else { return }
            let width = CVPixelBufferGetWidthOfPlane(buffer, 0)
            let height = CVPixelBufferGetHeightOfPlane(buffer, 0)
            let stride = CVPixelBufferGetBytesPerRowOfPlane(buffer, 0)
            var luma = Data(count: width * height)
            luma.withUnsafeMutableBytes { out in
                for row in 0..<height {
                    out.baseAddress!.advanced(by: row * width).copyMemory(from: base.advanced(by: row * stride), byteCount: width)
                }
            }
            busy = true
            let onFrame = self.onFrame
            Task {
                await onFrame(width, height, luma)
                self.queue.async { self.busy = false }
            }
        }
    }
}
#endif

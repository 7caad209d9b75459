import QuantKit

/// What the panels show that is derived from the state: sizes and combined errors, never stored.
extension ExplorerState {
    /// Bytes of one layer's weight in a method (nil: as stored); exact when analysed at this blocksize.
    func bytes(of layer: LayerEntry, in method: QuantMethod?) -> Int {
        ModelSizes.layerBytes(outFeatures: layer.outFeatures, inFeatures: layer.inFeatures, dtype: layer.dtype,
                              storedBytes: layer.storedBytes, in: method, blocksize: blocksize, analysis: layer.weights,
                              analysedBlocksize: analysedBlocksize)
    }

    /// The whole model with every converted Linear in `method` (kept tensors as stored).
    func totalBytes(_ method: QuantMethod) -> Int {
        sizes.keptBytes + layers.reduce(0) { $0 + bytes(of: $1, in: method) }
    }

    /// The plan: skipped layers as stored, the rest in the chosen method.
    var planBytes: Int {
        let method = method.quantMethod(doubleQuant: doubleQuant)
        return sizes.keptBytes + layers.reduce(0) { $0 + bytes(of: $1, in: skipped.contains($1.name) ? nil : method) }
    }

    /// Mean output error over the layers measured, per method (nil: int8 at the threshold); nil until
    /// every layer that saw activations has its output errors, so a partial mean is never shown.
    func meanOutputError(_ method: QuantMethod?, honourSkips: Bool = false) -> Double? {
        let measured = layers.filter { $0.activations?.sampleRows ?? 0 > 0 }
        guard !measured.isEmpty else { return nil }
        var total = 0.0
        for layer in measured {
            if honourSkips && skipped.contains(layer.name) { continue }
            guard let value = method.map({ $0 == .int8 ? layer.outputErrors?.int8Pure : layer.error(of: $0, blocksize: blocksize, calibrated: true) })
                ?? layer.int8Error(at: threshold)?.value, layer.outputErrors != nil else { return nil }
            total += value
        }
        return total / Double(measured.count)
    }

    /// The LLM.int8 paper's outlier features at the counted threshold at or below `threshold` (nil before
    /// calibration, or below the whole counted grid).
    func outlierFeatures(at threshold: Float) -> OutlierFeatures? {
        guard hasActivations else { return nil }
        return OutlierFeatures(inputs: hiddenInputs, statistics: { layerIndex[$0].flatMap { layers[$0].activations } }, threshold: threshold)
    }

    /// Relative error of all converted weights together, ‖W_q − W‖/‖W‖ over the model; nil before
    /// any layer is analysed. Skipped layers count as exact when `honourSkips`.
    func combinedError(_ method: QuantMethod, honourSkips: Bool = false) -> Double? {
        var error = 0.0, norm = 0.0
        for layer in layers {
            guard let report = layer.weights, let result = report.result(for: method) else { continue }
            let squares = report.statistics.sumOfSquares
            norm += squares
            if !(honourSkips && skipped.contains(layer.name)) { error += result.relativeError * result.relativeError * squares }
        }
        return norm > 0 ? (error / norm).squareRoot() : nil
    }
}

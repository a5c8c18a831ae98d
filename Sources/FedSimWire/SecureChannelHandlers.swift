import NIOCore

/// Runs the handshake of `SecureHandshake` at the bottom of a TCP channel's pipeline, then
/// replaces itself with `RecordDecryptor` and `RecordEncryptor`, so the frame decoder above
/// sees plaintext bytes exactly as on the Unix socket. It buffers at most one handshake
/// message (plus what one read brings), checks the magic as soon as the first message is
/// there, and refuses writes from above until the channel is keyed (no plaintext ever leaves).
final class SecureHandshakeHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    enum Stage { case idle, awaitingKey, awaitingConfirm, done, failed }

    private var handshake: SecureHandshake
    private var stage = Stage.idle
    private var pending: ByteBuffer?
    private var sender: SecretStreamSender?
    /// Succeeds when the channel is keyed and authenticated; fails with the reason otherwise.
    let completed: EventLoopPromise<Void>

    init(role: SecureHandshake.Role, secret: TransportSecret, completed: EventLoopPromise<Void>) {
        handshake = SecureHandshake(role: role, secret: secret)
        self.completed = completed
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { start(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        start(context)
        context.fireChannelActive()
    }

    private func start(_ context: ChannelHandlerContext) {
        guard stage == .idle else { return }
        stage = .awaitingKey
        // The client speaks first; the server answers only once it has the client's key.
        if handshake.role == .client { send(handshake.keyMessage, context) }
    }

    private func send(_ bytes: [UInt8], _ context: ChannelHandlerContext) {
        context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(bytes: bytes)), promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = unwrapInboundIn(data)
        if stage == .failed || stage == .done { return }
        if pending == nil { pending = incoming } else { pending!.writeBuffer(&incoming) }
        do {
            try advance(context)
        } catch {
            fail(context, error)
        }
    }

    private func advance(_ context: ChannelHandlerContext) throws {
        if stage == .awaitingKey {
            guard let m = pending?.readBytes(length: SecureHandshake.keyMessageBytes) else { return }
            try handshake.receiveKeyMessage(m)
            stage = .awaitingConfirm
            if handshake.role == .server {
                send(handshake.keyMessage, context)
            } else {
                let s = SecretStreamSender(key: handshake.sendKey)
                sender = s
                send(handshake.confirmMessage(header: s.header), context)
            }
        }
        guard stage == .awaitingConfirm,
            let m = pending?.readBytes(length: SecureHandshake.confirmMessageBytes)
        else { return }
        let peerHeader = try handshake.receiveConfirmMessage(m)
        let receiver = try SecretStreamReceiver(key: handshake.receiveKey, header: peerHeader)
        if handshake.role == .server {
            // Only now, with the client's proof checked, does the server send anything keyed.
            let s = SecretStreamSender(key: handshake.sendKey)
            sender = s
            send(handshake.confirmMessage(header: s.header), context)
        }
        stage = .done
        let sync = context.pipeline.syncOperations
        try sync.addHandler(RecordEncryptor(sender!), position: .after(self))
        try sync.addHandler(ByteToMessageHandler(RecordDecryptor(receiver)), position: .after(self))
        completed.succeed(())
        if let rest = pending, rest.readableBytes > 0 { context.fireChannelRead(wrapInboundOut(rest)) }
        pending = nil
        sync.removeHandler(context: context, promise: nil)
    }

    private func fail(_ context: ChannelHandlerContext, _ error: Error) {
        guard stage != .failed else { return }
        stage = .failed
        pending = nil
        completed.fail(error)
        context.fireErrorCaught(error)
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        if stage != .done {
            fail(
                context,
                SecureChannelError(
                    .authenticationFailed,
                    "the connection closed during the secure handshake (the peer may not hold the job secret)"
                )
            )
        }
        context.fireChannelInactive()
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        promise?.fail(SecureChannelError(.protocolViolation, "a write before the secure handshake finished"))
    }
}

/// Decrypts records into plaintext bytes for the frame decoder. A record that does not
/// authenticate, or a stream that ends without its final message, closes the connection.
struct RecordDecryptor: ByteToMessageDecoder {
    typealias InboundOut = ByteBuffer
    let receiver: SecretStreamReceiver

    init(_ receiver: SecretStreamReceiver) { self.receiver = receiver }

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let plain = try receiver.open(&buffer, allocator: context.channel.allocator) else { return .needMoreData }
        if plain.readableBytes > 0 { context.fireChannelRead(wrapInboundOut(plain)) }
        return .continue
    }

    mutating func decodeLast(
        context: ChannelHandlerContext,
        buffer: inout ByteBuffer,
        seenEOF: Bool
    ) throws -> DecodingState {
        while try decode(context: context, buffer: &buffer) == .continue {}
        if buffer.readableBytes > 0 {
            throw SecureChannelError(
                .truncated,
                "the connection ended inside record \(receiver.records + 1) (\(buffer.readableBytes) bytes pending)"
            )
        }
        if !receiver.finished {
            throw SecureChannelError(
                .truncated,
                "the connection ended after record \(receiver.records) without the final message"
            )
        }
        return .needMoreData
    }
}

/// Encrypts every outbound buffer (an encoded frame) into records. On an orderly close it
/// first sends the FINAL record, so the peer can tell a goodbye from a cut.
final class RecordEncryptor: ChannelOutboundHandler, RemovableChannelHandler {
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    let sender: SecretStreamSender
    private var closed = false

    init(_ sender: SecretStreamSender) { self.sender = sender }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard !closed else {
            promise?.fail(ChannelError.ioOnClosedChannel)
            return
        }
        var plain = unwrapOutboundIn(data)
        let records = max(1, (plain.readableBytes + SecureRecords.maxPlaintext - 1) / SecureRecords.maxPlaintext)
        var out = context.channel.allocator.buffer(
            capacity: plain.readableBytes + records * (4 + SecureRecords.overhead)
        )
        sender.seal(&plain, into: &out)
        context.write(wrapOutboundOut(out), promise: promise)
    }

    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        if !closed, mode != .input, context.channel.isActive {
            closed = true
            var empty = context.channel.allocator.buffer(capacity: 0)
            var out = context.channel.allocator.buffer(capacity: 4 + SecureRecords.overhead)
            sender.seal(&empty, into: &out, final: true)
            context.writeAndFlush(wrapOutboundOut(out), promise: nil)
        }
        context.close(mode: mode, promise: promise)
    }
}

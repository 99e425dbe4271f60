// Hello.java - an HTTP server for tests/apps/java.sh, run with the source
// launcher (`java Hello.java ADDR PORT N`: javac runs in-process first).
// Each request runs a loop hot enough for C2 (HashMap.get over boxed
// keys, the code earlier rewriters broke) and answers with its result;
// after N requests it prints "served N" and exits (connections that
// close without a request, the test's probes, do not count).
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;

public class Hello {
	static final HashMap<Integer, Integer> map = new HashMap<>();

	static long work(int seed) {
		long sum = 0;
		for (int i = 0; i < 200000; i++) {
			Integer v = map.get((i * 31 + seed) & 1023);
			sum += v == null ? -1 : v;
		}
		return sum;
	}

	public static void main(String[] args) throws Exception {
		InetAddress addr = InetAddress.getByName(args[0]);
		int port = Integer.parseInt(args[1]);
		int n = Integer.parseInt(args[2]);

		for (int i = 0; i < 1024; i += 2)
			map.put(i, i * 7);
		try (ServerSocket ss = new ServerSocket()) {
			ss.setReuseAddress(true);
			ss.bind(new InetSocketAddress(addr, port), 128);
			System.out.println("listening");
			System.out.flush();
			for (int served = 0; served < n;) {
				try (Socket s = ss.accept()) {
					BufferedReader in = new BufferedReader(
						new InputStreamReader(s.getInputStream(),
							StandardCharsets.US_ASCII));
					String line = in.readLine();
					if (line == null)
						continue;	/* a probe of the port */
					served++;
					String path = line.split(" ")[1];
					while ((line = in.readLine()) != null &&
					       !line.isEmpty())
						;
					int seed = path.length() > 2 ?
						Integer.parseInt(path.substring(2)) : 0;
					String body = "hello " + path.substring(1) + " " +
						work(seed) + "\n";
					OutputStream out = s.getOutputStream();
					out.write(("HTTP/1.0 200 OK\r\nContent-Length: " +
						body.length() + "\r\nConnection: close\r\n\r\n" +
						body).getBytes(StandardCharsets.US_ASCII));
					out.flush();
				}
			}
		}
		System.out.println("served " + n);
	}
}

// An SMTP server for the email bench: Nodemailer's smtp-server, accepting every message and
// saving it as <n>.eml in the directory given (like tests/smtp/server.py, so the bench counts the
// same way). No authentication, no TLS. Prints "READY <port>" once listening.
// Usage: node sink.mjs <directory>
import { mkdirSync } from "node:fs";
import { writeFile, rename } from "node:fs/promises";
import { join } from "node:path";
import { SMTPServer } from "smtp-server";

const directory = process.argv[2];
if (!directory) {
  console.error("usage: node sink.mjs <directory>");
  process.exit(2);
}
mkdirSync(directory, { recursive: true });
let count = 0;

const server = new SMTPServer({
  authOptional: true,
  disabledCommands: ["AUTH", "STARTTLS"],
  size: 10 * 1024 * 1024,
  logger: false,
  onData(stream, session, callback) {
    const chunks = [];
    stream.on("data", (chunk) => chunks.push(chunk));
    stream.on("end", async () => {
      if (stream.sizeExceeded) {
        callback(Object.assign(new Error("552 Message too big"), { responseCode: 552 }));
        return;
      }
      count += 1;
      const path = join(directory, String(count).padStart(6, "0") + ".eml");
      try {
        await writeFile(path + ".partial", Buffer.concat(chunks));
        await rename(path + ".partial", path);
        callback(null, "Message accepted for delivery");
      } catch (error) {
        callback(Object.assign(error, { responseCode: 451 }));
      }
    });
  },
});
server.on("error", (error) => console.error("smtp sink:", error.message));
server.listen(0, "127.0.0.1", () => {
  console.log("READY " + server.server.address().port);
});
